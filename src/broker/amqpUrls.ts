import { OutboxError } from '../errors.js';

/**
 * AMQP_URL may name several nodes of a cluster, comma-separated
 * ("amqp://u:p@node-a:5672,amqp://u:p@node-b:5672"); connections go to the first
 * that answers and fail over in turn. A heartbeat is added when the URL sets none,
 * so a dead peer is noticed in seconds rather than at the next write.
 */
export function parseAmqpUrls(value: string | string[] | undefined, heartbeatSeconds = 10): string[] {
  const list = (Array.isArray(value) ? value : (value ?? '').split(',')).map((url) => url.trim()).filter(Boolean);
  if (list.length === 0) {
    throw new OutboxError('OUTBOX_INVALID_CONFIG', 'no AMQP URL given (AMQP_URL, e.g. amqp://user:password@127.0.0.1:5672)');
  }
  return list.map((url) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new OutboxError('OUTBOX_INVALID_CONFIG', 'an AMQP URL is not a valid URL');
    }
    if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
      throw new OutboxError('OUTBOX_INVALID_CONFIG', `an AMQP URL must start with amqp:// or amqps://, not ${parsed.protocol}//`);
    }
    if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(heartbeatSeconds));
    return parsed.toString();
  });
}
