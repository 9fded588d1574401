// The reconciler must not amplify a backlog: what waits in a consumer's queue is
// not lost, and a message it re-published is not re-published again at every run.
// Measured: re-publishes per lost message.
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createReconciler, defineConsumer, type ReconcilerOptions } from '../../src/index.js';
import { declareConsumerTopology, workerTopology } from '../../src/broker/consumerTopology.js';
import { resolveConsumer } from '../../src/catalog/defineConsumer.js';
import { testEvents } from '../support/events.js';
import { createTestBroker, takeAll, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const consumer = defineConsumer<typeof testEvents, unknown>({ name: 'amplification-test', events: ['test.anything'], async handle() {} });
const LOST = 20;
const DONE = 100;
const BACKLOG = 1000;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('reconciler-amplification')]);
  await declareConsumerTopology(broker.channel, workerTopology(), resolveConsumer(consumer));
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox_message, outbox_inbox, outbox_consumer, outbox_reschedule, outbox_reconciler_run');
  await broker.channel.purgeQueue(consumer.name);
  await db.pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '2 hours')", [consumer.name]);
});

function reconciler(overrides: Partial<ReconcilerOptions> = {}) {
  return createReconciler({
    databaseUrl: db.url,
    amqpUrl: broker.url,
    events: testEvents,
    consumers: [consumer],
    graceMs: 60_000,
    maxRescheduleRate: 0,
    logger,
    ...overrides,
  });
}

async function runOnce(overrides: Partial<ReconcilerOptions> = {}) {
  const instance = reconciler(overrides);
  try {
    return await instance.runOnce();
  } finally {
    await instance.stop();
  }
}

/** `count` published rows first published `minutesAgo`; returns their ids in order. */
async function published(count: number, minutesAgo: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at, available_at)
     SELECT gen_random_uuid(), 'test.anything', to_jsonb(n), 'published', now() - $2 * interval '1 minute', now() - $2 * interval '1 minute', now() - $2 * interval '1 minute'
       FROM generate_series(1, $1) AS n ORDER BY n
     RETURNING id::text`,
    [count, minutesAgo],
  );
  return rows.map((row) => row.id);
}

const queueDepth = async () => (await broker.channel.checkQueue(consumer.name)).messageCount;

describe('the reconciler and a consumer with a backlog', () => {
  it('re-publishes only the messages provably lost, once: 1 re-publish per lost message, then none', async () => {
    // Lost on the way (say, while the queue was unbound); then the consumer did later
    // ones; then it fell behind: a backlog of messages waits in its queue.
    const lost = await published(LOST, 30);
    const done = await published(DONE, 20);
    await db.pool.query("INSERT INTO outbox_inbox (consumer, message_id, status, done_at) SELECT $1, unnest($2::uuid[]), 'done', now()", [consumer.name, done]);
    const backlog = await published(BACKLOG, 10);
    for (const id of backlog) broker.channel.sendToQueue(consumer.name, Buffer.from('1'), { messageId: id, type: 'test.anything', persistent: true });
    await expect.poll(queueDepth).toBe(BACKLOG);

    const first = await runOnce();
    const perLost = first.rescheduled / LOST;
    console.log(`re-publishes per lost message: ${perLost} (${first.rescheduled} for ${LOST} lost, ${BACKLOG} waiting in the queue)`);
    expect(first.consumers).toEqual([expect.objectContaining({ consumer: consumer.name, rescheduled: LOST, queueDepth: BACKLOG, deferred: BACKLOG })]);
    expect(perLost).toBe(1);
    const delivered = await takeAll(broker.channel, consumer.name);
    expect(delivered).toHaveLength(BACKLOG + LOST);
    expect(delivered.slice(BACKLOG).map((message) => message.properties.messageId)).toEqual(lost);

    // Put the backlog back, as it was: the consumer is still behind.
    for (const id of backlog) broker.channel.sendToQueue(consumer.name, Buffer.from('1'), { messageId: id, type: 'test.anything', persistent: true });
    await expect.poll(queueDepth).toBe(BACKLOG);
    const second = await runOnce();
    expect(second.rescheduled).toBe(0);

    // The consumer catches up: everything done, nothing owed, nothing re-published.
    await takeAll(broker.channel, consumer.name);
    await db.pool.query("INSERT INTO outbox_inbox (consumer, message_id, status, done_at) SELECT $1, unnest($2::uuid[]), 'done', now()", [
      consumer.name,
      [...lost, ...backlog],
    ]);
    const third = await runOnce();
    expect(third.rescheduled).toBe(0);
    const { rows } = await db.pool.query<{ total: number }>('SELECT coalesce(sum(rescheduled), 0)::int AS total FROM outbox_reconciler_run');
    expect(rows[0]!.total).toBe(LOST);
  });

  it('with an empty queue, re-publishes every owed message; again only after a back-off that doubles with each repeat', async () => {
    const lost = await published(LOST, 30);
    const first = await runOnce({ rescheduleBackoffMs: 60_000 });
    expect(first.rescheduled).toBe(LOST);
    await takeAll(broker.channel, consumer.name); // lost again (say, purged)

    // Right after: still within the back-off.
    expect((await runOnce({ rescheduleBackoffMs: 60_000 })).rescheduled).toBe(0);

    // Once it has passed: re-published again, and the next back-off is twice as long.
    await db.pool.query("UPDATE outbox_reschedule SET next_at = now() - interval '1 second'");
    expect((await runOnce({ rescheduleBackoffMs: 60_000 })).rescheduled).toBe(LOST);
    const { rows } = await db.pool.query<{ count: number; backoffS: number }>(
      'SELECT DISTINCT count, round(extract(epoch FROM next_at - last_at))::int AS "backoffS" FROM outbox_reschedule WHERE message_id = ANY($1::uuid[])',
      [lost],
    );
    expect(rows).toEqual([{ count: 2, backoffS: 120 }]);
    const { rows: runs } = await db.pool.query<{ rescheduled: number }>("SELECT rescheduled FROM outbox_reconciler_run WHERE status = 'done' ORDER BY id");
    expect(runs.map((run) => run.rescheduled)).toEqual([LOST, 0, LOST]);
  });

  it('a queue deleted between two runs of one reconciler is declared again and gets the lost messages', async () => {
    const instance = reconciler();
    try {
      await published(1, 30);
      expect((await instance.runOnce()).rescheduled).toBe(1);
      await broker.channel.deleteQueue(consumer.name);
      await published(LOST, 30);
      expect(await instance.runOnce()).toMatchObject({ rescheduled: LOST, consumers: [expect.objectContaining({ queueDepth: 0 })] });
      expect(await queueDepth()).toBe(LOST);
    } finally {
      await instance.stop();
    }
  });
});
