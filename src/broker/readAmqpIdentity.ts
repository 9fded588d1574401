// Who answers at AMQP_URL: one short-lived connection, opened with a short
// timeout and closed at once, for the broker's own account of itself (the server
// properties of connection.start: cluster_name, version). `outbox status` compares
// it with what the management API says, to catch an API of another broker.
import amqp from 'amqplib';
import { brokerError } from '../errorsFromDrivers.js';
import { redactSecrets, redactUrl } from '../logging/redactUrl.js';

export type AmqpState = 'ok' | 'not-configured' | 'unreachable' | 'credentials-refused' | 'vhost-refused' | 'error';

export interface AmqpIdentity {
  state: AmqpState;
  /** The node that answered (or the last one tried), password hidden. */
  url: string | null;
  clusterName: string | null;
  version: string | null;
  /** What happened, in words (no password). */
  detail: string;
}

/** The failure as a state, by the same reading the other commands' typed errors use (errorsFromDrivers). */
function classify(error: unknown): { state: Exclude<AmqpState, 'ok' | 'not-configured'>; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  const code = brokerError(error)?.code;
  if (code === 'OUTBOX_BROKER_LOGIN_REFUSED') return { state: 'credentials-refused', message };
  if (code === 'OUTBOX_BROKER_ACCESS_REFUSED') return { state: 'vhost-refused', message };
  // amqplib's own connect timeout carries no code.
  if (code === 'OUTBOX_BROKER_UNREACHABLE' || /connect ETIMEDOUT/.test(message)) return { state: 'unreachable', message };
  return { state: 'error', message };
}

/** The node as the user wrote it: password hidden, without the heartbeat parseAmqpUrls adds. */
function displayUrl(url: string): string {
  const parsed = new URL(url);
  parsed.searchParams.delete('heartbeat');
  return redactUrl(parsed.toString());
}

const text = (value: unknown): string | null => (value === undefined || value === null ? null : String(value));

/**
 * Tries the nodes in order until one opens a connection; a refused login or vhost
 * is the cluster's answer (every node shares users and vhosts), so it stops there.
 */
export async function readAmqpIdentity(urls: string[] | undefined, vhost: string, timeoutMs: number): Promise<AmqpIdentity> {
  if (!urls || urls.length === 0) {
    return { state: 'not-configured', url: null, clusterName: null, version: null, detail: 'AMQP_URL is not set' };
  }
  let failure: { state: Exclude<AmqpState, 'ok' | 'not-configured'>; message: string } | undefined;
  let url = urls[0]!;
  for (url of urls) {
    try {
      // noDelay: the handshake's small frames are not held back by Nagle's algorithm (~40 ms each way otherwise).
      const connection = await amqp.connect(url, { timeout: timeoutMs, noDelay: true, clientProperties: { connection_name: 'outbox-status' } });
      connection.on('error', () => {});
      const properties = connection.connection.serverProperties;
      await connection.close().catch(() => {});
      return {
        state: 'ok',
        url: displayUrl(url),
        clusterName: text(properties.cluster_name),
        version: text(properties.version),
        detail: `connected to vhost "${vhost}"`,
      };
    } catch (error) {
      failure = classify(error);
      if (failure.state !== 'unreachable') break;
    }
  }
  const message = redactSecrets(failure!.message, urls);
  const detail = {
    'credentials-refused': 'login refused (ACCESS_REFUSED): wrong user or password in AMQP_URL',
    'vhost-refused': `the broker refused vhost "${vhost}": it does not exist, or the user has no permission on it`,
    unreachable: `not reachable (${message})`,
    error: message,
  }[failure!.state];
  return { state: failure!.state, url: displayUrl(url), clusterName: null, version: null, detail };
}
