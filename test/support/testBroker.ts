// Each test file gets a RabbitMQ vhost of its own (through the management HTTP
// API), so exchanges and queues never collide between files running in parallel.
import { randomBytes } from 'node:crypto';
import amqp, { type Channel, type ChannelModel, type GetMessage } from 'amqplib';

const management = process.env.TEST_RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';
const amqpBase = new URL(process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const authorization = `Basic ${Buffer.from(`${decodeURIComponent(amqpBase.username)}:${decodeURIComponent(amqpBase.password)}`).toString('base64')}`;

export async function managementApi(method: string, path: string, body?: unknown): Promise<Response> {
  const response = await fetch(`${management}/api${path}`, {
    method,
    headers: { authorization, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok && response.status !== 404) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

export interface TestBroker {
  vhost: string;
  url: string;
  /** A connection for the test's own assertions (declaring queues, reading messages). */
  connection: ChannelModel;
  channel: Channel;
  delete(): Promise<void>;
}

export async function createTestBroker(label: string): Promise<TestBroker> {
  const vhost = `outbox-test-${label}-${randomBytes(3).toString('hex')}`;
  await managementApi('PUT', `/vhosts/${encodeURIComponent(vhost)}`);
  await managementApi('PUT', `/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(decodeURIComponent(amqpBase.username))}`, {
    configure: '.*',
    write: '.*',
    read: '.*',
  });
  const url = new URL(amqpBase);
  url.pathname = `/${encodeURIComponent(vhost)}`;
  const connection = await amqp.connect(url.toString(), { noDelay: true });
  const channel = await connection.createChannel();
  return {
    vhost,
    url: url.toString(),
    connection,
    channel,
    async delete() {
      await connection.close().catch(() => {});
      await managementApi('DELETE', `/vhosts/${encodeURIComponent(vhost)}`);
    },
  };
}

/** Every message now in the queue, acknowledged, in queue order. */
export async function takeAll(channel: Channel, queue: string): Promise<GetMessage[]> {
  const messages: GetMessage[] = [];
  for (let message = await channel.get(queue); message !== false; message = await channel.get(queue)) {
    messages.push(message);
    channel.ack(message);
  }
  return messages;
}

/** Waits until `check` returns true (polling), or fails after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
