// A vhost of the app's own and a user allowed only the outbox's exchanges and its
// consumer's queues: the relay and the worker need no more, and the user really
// is confined (it cannot declare anything else).
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { createTestBroker, eventually, managementApi, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const CONSUMER = 'billing-sync';
// The permissions docs/security.md documents, for one consumer named billing-sync.
const OURS = `^(outbox\\.(events|unroutable|dlx)|${CONSUMER}(\\..*)?)$`;
const PERMISSIONS = { configure: OURS, write: `^(amq\\.default|outbox\\.(events|unroutable|dlx)|${CONSUMER}(\\..*)?)$`, read: OURS };

let db: TestDatabase;
let broker: TestBroker;
let user: string;
let url: string;
const running: CliProcess[] = [];

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('least-privilege')]);
  user = `outbox-app-${randomBytes(3).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await managementApi('PUT', `/users/${encodeURIComponent(user)}`, { password, tags: '' });
  await managementApi('PUT', `/permissions/${encodeURIComponent(broker.vhost)}/${encodeURIComponent(user)}`, PERMISSIONS);
  const parsed = new URL(broker.url);
  parsed.username = user;
  parsed.password = password;
  url = parsed.toString();
});
afterAll(async () => {
  for (const cli of running) cli.child.kill('SIGKILL');
  await managementApi('DELETE', `/users/${encodeURIComponent(user)}`).catch(() => {});
  await broker?.delete();
  await db?.drop();
});

describe('a least-privilege user on its own vhost', () => {
  it('runs the relay and the worker (retries and dead letters included), and may touch nothing else', async () => {
    const env = { DATABASE_URL: db.url, AMQP_URL: url, CONSUMER_NAME: CONSUMER, DELIVERY_LIMIT: '5' };
    const worker = startOutboxCli(['worker', '--config', 'test/fixtures/worker.config.ts'], env);
    running.push(worker);
    await eventually(() => worker.output().includes('"consuming"'), 60_000, `the worker consuming:\n${worker.output()}`);
    const relay = startOutboxCli(['relay'], env);
    running.push(relay);
    const { rows } = await db.pool.query<{ id: string }>(
      "INSERT INTO outbox_message (id, event_type, payload) VALUES (gen_random_uuid(), 'test.anything', '1') RETURNING id::text",
    );
    await eventually(
      async () => (await db.pool.query('SELECT 1 FROM demo_signup_log WHERE message_id = $1', [rows[0]!.id])).rowCount === 1,
      30_000,
      'the event handled',
    );
    // A malformed delivery: dead-lettered through outbox.dlx with these permissions too.
    broker.channel.sendToQueue(CONSUMER, Buffer.from('{not json'), { messageId: crypto.randomUUID(), type: 'test.anything' });
    await eventually(async () => (await broker.channel.checkQueue(`${CONSUMER}.dlq`)).messageCount === 1, 30_000, 'the dead letter');
    expect(`${relay.output()}${worker.output()}`).not.toMatch(/ACCESS_REFUSED|403/);

    const connection = await amqp.connect(url);
    connection.on('error', () => {});
    const channel = await connection.createChannel();
    channel.on('error', () => {});
    await expect(channel.assertQueue('someone-elses-queue')).rejects.toThrow(/ACCESS_REFUSED|403/);
    await connection.close().catch(() => {});
  }, 120_000);
});
