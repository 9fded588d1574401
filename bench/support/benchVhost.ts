// A RabbitMQ virtual host for one benchmark (through the management HTTP API): its
// exchanges and queues never touch the default vhost, and go with it at the end.
const amqpBase = new URL(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const management = process.env.RABBITMQ_MANAGEMENT_URL ?? `http://${amqpBase.hostname}:15672`;
const authorization = `Basic ${Buffer.from(`${decodeURIComponent(amqpBase.username)}:${decodeURIComponent(amqpBase.password)}`).toString('base64')}`;

export interface BenchVhost {
  /** AMQP_URL with this vhost. */
  url: string;
  delete(): Promise<void>;
}

async function call(method: string, path: string, body?: unknown): Promise<void> {
  const response = await fetch(`${management}/api${path}`, {
    method,
    headers: { authorization, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok && response.status !== 404) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
}

export async function createBenchVhost(name: string): Promise<BenchVhost> {
  const vhost = encodeURIComponent(name);
  await call('DELETE', `/vhosts/${vhost}`);
  await call('PUT', `/vhosts/${vhost}`);
  await call('PUT', `/permissions/${vhost}/${encodeURIComponent(decodeURIComponent(amqpBase.username))}`, { configure: '.*', write: '.*', read: '.*' });
  const url = new URL(amqpBase);
  url.pathname = `/${vhost}`;
  return { url: url.toString(), delete: () => call('DELETE', `/vhosts/${vhost}`) };
}
