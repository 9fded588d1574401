import { OutboxError } from '../errors.js';

/** AMQP_URL from the environment (one URL, or several comma-separated for a cluster). */
export function readAmqpUrl(env: NodeJS.ProcessEnv = process.env): string {
  const value = env.AMQP_URL;
  if (!value) throw new OutboxError('OUTBOX_INVALID_CONFIG', 'AMQP_URL is not set (e.g. amqp://user:password@127.0.0.1:5672)');
  return value;
}
