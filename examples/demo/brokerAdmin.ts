// What an operator (or an accident) does to the broker, confined to the demo's
// vhost: other users of the broker are not touched.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp, { type Channel } from 'amqplib';

export interface BrokerAdmin {
  /** Closes every client connection in the vhost; says how. */
  closeConnections(): Promise<string>;
  /** Messages ready in a queue, or 0 when it does not exist. */
  queueDepth(queue: string): Promise<number>;
  queueExists(queue: string): Promise<boolean>;
  unbind(queue: string, exchange: string, pattern: string): Promise<void>;
  bind(queue: string, exchange: string, pattern: string): Promise<void>;
  managementUrl: string;
}

export function brokerAdmin(amqpUrl: string): BrokerAdmin {
  const firstNode = amqpUrl.split(',')[0]!.trim();
  const url = new URL(firstNode);
  const vhost = decodeURIComponent(url.pathname.slice(1)) || '/';
  const managementUrl = process.env.RABBITMQ_MANAGEMENT_URL ?? `http://${url.hostname}:15672`;
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username || 'guest')}:${decodeURIComponent(url.password || 'guest')}`).toString('base64')}`;

  // A connection per operation: the demo closes connections, its own included.
  async function withChannel<T>(use: (channel: Channel) => Promise<T>): Promise<T> {
    const connection = await amqp.connect(firstNode);
    connection.on('error', () => {});
    try {
      const channel = await connection.createChannel();
      channel.on('error', () => {});
      return await use(channel);
    } finally {
      await connection.close().catch(() => {});
    }
  }

  async function closeThroughManagementApi(): Promise<string> {
    const api = async (method: string, path: string) => {
      const response = await fetch(`${managementUrl}/api${path}`, {
        method,
        headers: { authorization, 'x-reason': 'outbox demo: chaos' },
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok && response.status !== 404) throw new Error(`management API ${method} ${path}: ${response.status}`);
      return response;
    };
    // The API lists a new connection only after its next stats tick (~5 s).
    const listed = (await (await api('GET', `/vhosts/${encodeURIComponent(vhost)}/connections`)).json()) as { name: string }[];
    await Promise.all(listed.map((each) => api('DELETE', `/connections/${encodeURIComponent(each.name)}`)));
    return `closed ${listed.length} connections through the management API`;
  }

  return {
    managementUrl,
    async closeConnections() {
      // On the broker's own host, rabbitmqctl closes them all at once, with no lag;
      // elsewhere (docker compose), the management API.
      try {
        await promisify(execFile)('rabbitmqctl', ['-q', 'close_all_connections', '--vhost', vhost, 'outbox demo: chaos'], { timeout: 30_000 });
        return `rabbitmqctl close_all_connections --vhost ${vhost}`;
      } catch {
        return closeThroughManagementApi();
      }
    },
    queueDepth: (queue) => withChannel((channel) => channel.checkQueue(queue).then((ok) => ok.messageCount)).catch(() => 0),
    queueExists: (queue) => withChannel((channel) => channel.checkQueue(queue).then(() => true)).catch(() => false),
    unbind: (queue, exchange, pattern) => withChannel(async (channel) => void (await channel.unbindQueue(queue, exchange, pattern))),
    bind: (queue, exchange, pattern) => withChannel(async (channel) => void (await channel.bindQueue(queue, exchange, pattern))),
  };
}
