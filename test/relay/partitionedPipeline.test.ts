// The whole pipeline on partitioned tables (docs/partitioning.md): the relay's claim,
// which reads only partitions from the day before the oldest unfinished row, still
// publishes every row in per-key order whatever partitions a key's rows are spread
// over (an old day, today, the default partition), and a failed row in an old day still
// blocks its key; the worker's inbox and the reconciler work unchanged, and the
// reconciler creates the coming days.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Sql } from '@prisma/client/runtime/client';
import { createOutbox, createReconciler, createRelay, createWorker, defineConsumer, type Relay } from '../../src/index.js';
import { createPgSqlStore } from '../../src/database/sqlStore.js';
import { dayPartitionName, dayStart, DAY_MS } from '../../src/database/partitionLayout.js';
import { enablePartitioning } from '../../src/database/enablePartitioning.js';
import { claimLowerBound, claimStatement, configureBatchTransaction } from '../../src/relay/claimBatch.js';
import { newMessageId } from '../../src/outbox/newMessageId.js';
import { testEvents } from '../support/events.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const relays: Relay[] = [];
const now = Date.now();
const TAP = 'tap.partitioned';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('partitioned')]);
  // Partitioned three days ago with a week ahead: a legacy partition before yesterday, then a partition a day.
  const store = createPgSqlStore(db.url, { maxConnections: 2 });
  await enablePartitioning(store, { aheadDays: 7, lockTimeoutMs: 2_000, now: now - 3 * DAY_MS });
  await store.close();
  await broker.channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
  await broker.channel.assertQueue(TAP, { durable: true });
  await broker.channel.bindQueue(TAP, 'outbox.events', 'test.#');
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  await broker.channel.purgeQueue(TAP);
  await db.pool.query('TRUNCATE outbox_message, outbox_inbox');
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

function relay(): Relay {
  const created = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger, batchSize: 7, maxInFlight: 14 });
  relays.push(created);
  return created;
}

/** Rows in this order (so in seq order), each with the id of its instant: an old day's, today's, or a random one (the default partition). */
async function insertInOrder(rows: { key: string; at: number | 'random'; status?: string }[]): Promise<string[]> {
  const ids: string[] = [];
  for (const row of rows) {
    const id = row.at === 'random' ? randomUUID() : newMessageId(row.at);
    await db.pool.query(
      `INSERT INTO outbox_message (id, event_type, ordering_key, payload, status) VALUES ($1, 'test.anything', $2, $3, $4::outbox_message_status)`,
      [id, row.key, JSON.stringify({ n: ids.length }), row.status ?? 'pending'],
    );
    ids.push(id);
  }
  return ids;
}

async function partitionsOf(ids: string[]): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string; partition: string }>(
    'SELECT id::text, tableoid::regclass::text AS partition FROM outbox_message WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return ids.map((id) => rows.find((row) => row.id === id)!.partition);
}

describe('the relay on partitioned tables', () => {
  it("publishes a key's rows in write order across the legacy, a day's and the default partition, and a failed row in an old day holds its key", async () => {
    const spread = [now - 2.5 * DAY_MS, now - DAY_MS / 2 - 3_600_000, now, 'random'] as const;
    const ordered = await insertInOrder([
      ...spread.map((at) => ({ key: 'spread', at })),
      ...spread.map((at) => ({ key: 'spread', at })),
      { key: 'held', at: now - 2.5 * DAY_MS, status: 'failed' },
      { key: 'held', at: now },
    ]);
    const spreadIds = ordered.slice(0, 8);
    expect(new Set(await partitionsOf(spreadIds.slice(0, 4)))).toEqual(
      new Set([
        'outbox_message_legacy',
        dayPartitionName('outbox_message', dayStart(now - DAY_MS / 2 - 3_600_000)),
        dayPartitionName('outbox_message', dayStart(now)),
        'outbox_message_default',
      ]),
    );

    // Batches of 7 over 10 rows: the key's run crosses batches as well as partitions.
    const report = await relay().runOnce();
    expect(report).toMatchObject({ published: 8, failed: 0 });
    const delivered = await takeAll(broker.channel, TAP);
    expect(delivered.map((message) => message.properties.messageId)).toEqual(spreadIds);
    const { rows } = await db.pool.query<{ status: string }>('SELECT status::text FROM outbox_message WHERE id = $1', [ordered[9]]);
    expect(rows[0]!.status).toBe('pending');
  });

  it('reads only the partitions from the day before the oldest unfinished row', async () => {
    const [oldPublished] = await insertInOrder([{ key: 'a', at: now - 2.5 * DAY_MS, status: 'published' }]);
    const [pending] = await insertInOrder([{ key: 'a', at: now }]);
    expect(oldPublished).toBeDefined();
    const client = await db.pool.connect();
    const query = async <Row>(statement: Sql): Promise<Row[]> => (await client.query(statement.text, statement.values)).rows as Row[];
    try {
      await client.query('BEGIN');
      await configureBatchTransaction(query, 10_000);
      const statement = claimStatement(10, 11, claimLowerBound(pending!));
      const plan = (await client.query(`EXPLAIN (COSTS OFF) ${statement.text}`, statement.values)).rows
        .map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN'])
        .join('\n');
      const partitionsRead = new Set([...plan.matchAll(/on (outbox_message_\w+)/g)].map((match) => match[1]));
      expect(partitionsRead).not.toContain('outbox_message_legacy');
      expect(partitionsRead).not.toContain(dayPartitionName('outbox_message', dayStart(now - 2 * DAY_MS)));
      expect(partitionsRead).toContain(dayPartitionName('outbox_message', dayStart(now - DAY_MS)));
      expect(partitionsRead).toContain(dayPartitionName('outbox_message', dayStart(now)));
      expect(partitionsRead).toContain('outbox_message_default');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    expect(await relay().runOnce()).toMatchObject({ published: 1 });
  });

  it('publishes nothing twice and skips the claim while nothing is unfinished', async () => {
    await insertInOrder(Array.from({ length: 20 }, (_, index) => ({ key: `k${index % 3}`, at: now })));
    const running = relay();
    const first = await running.runOnce();
    const second = await running.runOnce();
    expect(first).toMatchObject({ published: 20 });
    expect(second).toMatchObject({ claimed: 0, published: 0 });
    expect(await takeAll(broker.channel, TAP)).toHaveLength(20);
  });
});

describe('workers and the reconciler on partitioned tables', () => {
  it('handles each event once with its inbox row in the message day, and the reconciler creates the coming days', async () => {
    const handled: string[] = [];
    const consumer = defineConsumer<typeof testEvents, Tx>({
      name: 'partitioned-audit',
      events: ['test.anything'],
      async handle({ tx, messageId }) {
        await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
        handled.push(messageId);
      },
    });
    const outbox = createOutbox({ events: testEvents });
    const worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers: [consumer], logger });
    await worker.start();
    try {
      const ids = await db.prisma.$transaction((tx) =>
        outbox.publishMany(
          tx,
          Array.from({ length: 30 }, (_, n) => ({ event: 'test.anything' as const, payload: { n } })),
        ),
      );
      await relay().runOnce();
      await eventually(async () => handled.length >= 30, 15_000, 'all handled');
      const { rows } = await db.pool.query<{ partition: string; count: number }>(
        `SELECT tableoid::regclass::text AS partition, count(*)::int AS count FROM outbox_inbox WHERE consumer = $1 AND status = 'done' GROUP BY 1`,
        [consumer.name],
      );
      expect(rows).toEqual([{ partition: dayPartitionName('outbox_inbox', dayStart(now)), count: 30 }]);
      expect(new Set(handled)).toEqual(new Set(ids));

      // Through the app's Prisma client, as `outbox reconcile --config` runs it: the partitions' DDL goes through Prisma too.
      const reconciler = createReconciler({
        prisma: db.prisma,
        amqpUrl: broker.url,
        events: testEvents,
        consumers: [consumer],
        graceMs: 0,
        logger,
        partitionsAheadDays: 9,
      });
      try {
        const report = await reconciler.runOnce();
        expect(report).toMatchObject({ status: 'done', rescheduled: 0 });
        // Made a week ahead of three days ago: up to 4 days ahead exist; 9 ahead wanted.
        const wanted = [5, 6, 7, 8, 9].flatMap((days) =>
          ['outbox_message', 'outbox_inbox'].map((table) => dayPartitionName(table, dayStart(now) + days * DAY_MS)),
        );
        expect([...report.partitionsCreated].sort()).toEqual(wanted.sort());
        expect((await reconciler.runOnce()).partitionsCreated).toEqual([]);
      } finally {
        await reconciler.stop();
      }
    } finally {
      await worker.stop();
    }
    const { rows: effects } = await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM demo_signup_log');
    expect(effects[0]!.count).toBe(30);
  });
});
