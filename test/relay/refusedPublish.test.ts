// A consumer's queue that refuses publishes (full, with reject-publish): the
// relay's publishes are nacked, the rows wait and are retried, and once the queue
// accepts again they are published, on a fresh channel if the old one stays refused.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../src/index.js';
import { refusePublishes } from '../support/refusingQueue.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
let relay: Relay | undefined;
const QUEUE = 'full-consumer';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('refused-publish')]);
  await broker.channel.assertExchange('outbox.unroutable', 'fanout', { durable: true });
  await broker.channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
  await broker.channel.assertQueue(QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await broker.channel.bindQueue(QUEUE, 'outbox.events', '#');
});
afterAll(async () => {
  await relay?.stop();
  await broker?.delete();
  await db?.drop();
});

describe('a queue that refuses the relay’s publishes', () => {
  it('holds the rows back (nacked, retried with backoff), then publishes them once it accepts again', async () => {
    const refusal = await refusePublishes(broker, QUEUE);
    relay = createRelay({
      databaseUrl: db.url,
      amqpUrl: broker.url,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      initialBackoffMs: 100,
      maxBackoffMs: 500,
      pollIntervalMs: 50,
    });
    await relay.start();
    await db.pool.query("INSERT INTO outbox_message (id, event_type, payload) VALUES (gen_random_uuid(), 'test.anything', '1')");
    await eventually(
      async () => (await db.pool.query<{ attempts: number }>('SELECT attempts FROM outbox_message')).rows[0]!.attempts >= 3,
      20_000,
      'nacked attempts',
    );
    const { rows } = await db.pool.query<{ status: string; last_error: string }>('SELECT status::text, last_error FROM outbox_message');
    expect(rows[0]).toMatchObject({ status: 'pending' });

    await refusal.lift({ drain: true });
    await eventually(async () => (await db.pool.query("SELECT 1 FROM outbox_message WHERE status = 'published'")).rowCount === 1, 20_000, 'the row published');
  }, 60_000);
});
