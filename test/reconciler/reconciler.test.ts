import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, createReconciler, createRelay, createWorker, defineConsumer, type ReconcilerOptions } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const outbox = createOutbox({ events: testEvents });

const logSignup = defineConsumer<typeof testEvents, Tx>({
  name: 'log-signup',
  events: ['user.*'],
  async handle({ tx, messageId }) {
    await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
  },
});
const auditAll = defineConsumer<typeof testEvents, Tx>({ name: 'audit-all', events: ['#'], async handle() {} });
const lateComer = defineConsumer<typeof testEvents, Tx>({ name: 'late-comer', events: ['user.*'], async handle() {} });

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('reconciler')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

function reconciler(overrides: Partial<ReconcilerOptions> = {}) {
  return createReconciler({ databaseUrl: db.url, amqpUrl: broker.url, events: testEvents, consumers: [logSignup, auditAll], graceMs: 0, logger, ...overrides });
}

/** Runs a worker for these consumers until their queues are empty. */
async function drainWith(consumers: (typeof logSignup)[]): Promise<void> {
  const worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers, logger });
  await worker.start();
  for (const consumer of consumers) {
    await eventually(
      async () => {
        const queue = await broker.channel.checkQueue(consumer.name);
        return queue.messageCount === 0 && queue.consumerCount > 0;
      },
      15_000,
      `${consumer.name} drained`,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  await worker.stop();
}

async function publishAndRelay(count: number): Promise<string[]> {
  const ids = await db.prisma.$transaction((tx) =>
    outbox.publishMany(
      tx,
      Array.from({ length: count }, () => ({ event: 'user.signed-up' as const, payload: { userId: randomUUID() } })),
    ),
  );
  const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger });
  await relay.runOnce();
  await relay.stop();
  return ids;
}

async function effectCount(ids: string[]): Promise<{ rows: number; messages: number }> {
  const { rows } = await db.pool.query(
    'SELECT count(*)::int AS rows, count(DISTINCT message_id)::int AS messages FROM demo_signup_log WHERE message_id = ANY($1::uuid[])',
    [ids],
  );
  return rows[0];
}

describe('the reconciler', () => {
  it('restores every side effect of a wiped queue, exactly once, re-publishing to that consumer only', async () => {
    // Both consumers registered by their worker first (events after that are owed to them).
    await drainWith([logSignup, auditAll]);
    const ids = await publishAndRelay(20);
    await drainWith([auditAll]);
    await broker.channel.purgeQueue(logSignup.name); // the queue got wiped

    const reconcile = reconciler();
    const report = await reconcile.runOnce();
    await reconcile.stop();
    expect(report.status).toBe('done');
    expect(report.consumers).toEqual([
      expect.objectContaining({ consumer: 'log-signup', rescheduled: 20 }),
      expect.objectContaining({ consumer: 'audit-all', rescheduled: 0 }),
    ]);
    expect((await broker.channel.checkQueue(auditAll.name)).messageCount).toBe(0);
    expect((await broker.channel.checkQueue(logSignup.name)).messageCount).toBe(20);

    await drainWith([logSignup]);
    expect(await effectCount(ids)).toEqual({ rows: 20, messages: 20 });

    // Nothing left to do; the watermark has moved past everything done.
    const again = reconciler();
    const second = await again.runOnce();
    await again.stop();
    expect(second.rescheduled).toBe(0);
    const { rows } = await db.pool.query('SELECT name, watermark_seq::text AS seq FROM outbox_consumer ORDER BY name');
    const { rows: top } = await db.pool.query('SELECT max(seq)::text AS seq FROM outbox_message');
    expect(rows).toEqual([
      { name: 'audit-all', seq: top[0].seq },
      { name: 'log-signup', seq: top[0].seq },
    ]);
    const third = reconciler();
    expect((await third.runOnce()).scanned).toBe(0);
    await third.stop();
  });

  it('does not flood a consumer registered today with older events', async () => {
    await publishAndRelay(5);
    const reconcile = reconciler({ consumers: [logSignup, auditAll, lateComer] });
    const report = await reconcile.runOnce();
    await reconcile.stop();
    expect(report.consumers.find((entry) => entry.consumer === 'late-comer')).toMatchObject({ rescheduled: 0 });
    expect((await broker.channel.checkQueue(lateComer.name)).messageCount).toBe(0);
    // The others are owed those 5, but they wait in their queues (the workers are
    // stopped): not lost, so not re-published again.
    expect(report.consumers.find((entry) => entry.consumer === 'log-signup')).toMatchObject({ rescheduled: 0, queueDepth: 5, deferred: 5 });
    await drainWith([logSignup, auditAll]);
  });

  it('runs on one replica at a time: a held lock means skipped, three at once make one run', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query("SELECT pg_advisory_lock(hashtext('prisma-rabbitmq-outbox.reconciler'))");
    const blocked = reconciler();
    expect((await blocked.runOnce()).status).toBe('skipped');
    await blocked.stop();
    await holder.end();

    // Work enough to make a run last: 30 messages at 20 re-publishes per second.
    await publishAndRelay(30);
    await broker.channel.purgeQueue(logSignup.name);
    await broker.channel.purgeQueue(auditAll.name);
    const replicas = [0, 1, 2].map(() => reconciler({ maxRescheduleRate: 20 }));
    const reports = await Promise.all(replicas.map((replica) => replica.runOnce()));
    await Promise.all(replicas.map((replica) => replica.stop()));
    expect(reports.map((report) => report.status).sort()).toEqual(['done', 'skipped', 'skipped']);
    expect(reports.find((report) => report.status === 'done')!.rescheduled).toBe(60);
    const { rows } = await db.pool.query(
      "SELECT status, count(*)::int AS count FROM outbox_reconciler_run WHERE started_at > now() - interval '1 minute' GROUP BY 1 ORDER BY 1",
    );
    expect(rows).toEqual(expect.arrayContaining([{ status: 'skipped', count: 3 }]));
    await drainWith([logSignup, auditAll]);
  });

  it("runs through the app's Prisma client too (no databaseUrl): the lock's transaction beside the run's statements", async () => {
    await publishAndRelay(3);
    await broker.channel.purgeQueue(logSignup.name);
    await broker.channel.purgeQueue(auditAll.name);
    const viaPrisma = createReconciler({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers: [logSignup, auditAll], graceMs: 0, logger });
    expect(await viaPrisma.runOnce()).toMatchObject({ status: 'done', rescheduled: 6 });
    // The lock was released: the next run takes it.
    expect(await viaPrisma.runOnce()).toMatchObject({ status: 'done', rescheduled: 0 });
    await viaPrisma.stop();
    const { rows } = await db.pool.query('SELECT status, rescheduled FROM outbox_reconciler_run ORDER BY id DESC LIMIT 2');
    expect(rows).toEqual([
      { status: 'done', rescheduled: 0 },
      { status: 'done', rescheduled: 6 },
    ]);
    await drainWith([logSignup, auditAll]);
  });

  it('returns failed outbox rows to pending when configured to', async () => {
    await db.pool.query(
      "INSERT INTO outbox_message (id, event_type, payload, status, attempts, last_error) VALUES (gen_random_uuid(), 'test.anything', '{}', 'failed', 10, 'broker nack')",
    );
    const plain = reconciler();
    expect(await plain.runOnce()).toMatchObject({ failedRows: 1, retriedFailedRows: 0 });
    await plain.stop();
    const retrying = reconciler({ retryFailedRows: true });
    expect(await retrying.runOnce()).toMatchObject({ failedRows: 0, retriedFailedRows: 1 });
    await retrying.stop();
    await db.pool.query("DELETE FROM outbox_message WHERE last_error = 'broker nack'");
  });

  it('reports pending rows the relay has not published for too long', async () => {
    await db.pool.query(
      "INSERT INTO outbox_message (id, event_type, payload, created_at, available_at) VALUES (gen_random_uuid(), 'test.anything', '{}', now() - interval '1 hour', now() - interval '1 hour')",
    );
    const reconcile = reconciler({ stalePendingMs: 60_000 });
    const report = await reconcile.runOnce();
    await reconcile.stop();
    expect(report.stalePending.count).toBe(1);
    expect(report.stalePending.oldestAgeMs).toBeGreaterThan(3_500_000);
  });
});
