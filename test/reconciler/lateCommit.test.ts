// A transaction that writes an event and commits long after later ones did: the
// reconciler's watermark must not move past its row while it is still running, or
// a loss of that event after commit would never be reconciled.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, createReconciler, createRelay, createWorker, defineConsumer } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const outbox = createOutbox({ events: testEvents });
const CONSUMER = 'late-commit-log';
const logSignup = defineConsumer<typeof testEvents, Tx>({
  name: CONSUMER,
  events: ['user.signed-up'],
  async handle({ tx, messageId }) {
    await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
  },
});

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('late-commit')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

async function reconcile() {
  const reconciler = createReconciler({ databaseUrl: db.url, amqpUrl: broker.url, events: testEvents, consumers: [logSignup], graceMs: 0, logger });
  try {
    return await reconciler.runOnce();
  } finally {
    await reconciler.stop();
  }
}

async function relayAll(): Promise<void> {
  const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger });
  await relay.runOnce();
  await relay.stop();
}

async function effects(messageId: string): Promise<number> {
  const { rows } = await db.pool.query('SELECT count(*)::int AS count FROM demo_signup_log WHERE message_id = $1', [messageId]);
  return rows[0].count;
}

describe('a transaction that commits after later ones, across reconciler runs', () => {
  it('keeps the watermark behind its row while it runs; once committed and lost, the next run re-publishes it', async () => {
    // The consumer exists (and its queue) before anything is written.
    const worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers: [logSignup], logger });
    await worker.start();

    // A writer opens its transaction and writes its event first...
    const slow = new pg.Client({ connectionString: db.url });
    await slow.connect();
    const lateId = randomUUID();
    await slow.query('BEGIN');
    await slow.query(`INSERT INTO outbox_message (id, event_type, payload) VALUES ($1, 'user.signed-up', $2)`, [
      lateId,
      JSON.stringify({ userId: randomUUID() }),
    ]);

    // ...while others write, commit, and are handled.
    const quick = await db.prisma.$transaction((tx) =>
      outbox.publishMany(
        tx,
        Array.from({ length: 5 }, () => ({ event: 'user.signed-up' as const, payload: { userId: randomUUID() } })),
      ),
    );
    await relayAll();
    await eventually(async () => (await Promise.all(quick.map(effects))).every((count) => count === 1), 15_000, 'the quick events handled');

    // Runs while the slow transaction is open: nothing is owed, and the watermark stays behind the slow row.
    for (let run = 0; run < 2; run += 1) expect((await reconcile()).rescheduled).toBe(0);
    const { rows } = await db.pool.query(
      `SELECT (m.writer_xid, m.seq) > (c.watermark_xid, c.watermark_seq) AS "after"
         FROM outbox_consumer c, outbox_message m WHERE c.name = $1 AND m.id = ANY($2::uuid[])`,
      [CONSUMER, quick],
    );
    expect(rows.every((row: { after: boolean }) => row.after)).toBe(true);

    // The slow transaction commits; its event is published while no worker consumes, and lost.
    await worker.stop();
    await slow.query('COMMIT');
    await slow.end();
    await relayAll();
    await broker.channel.purgeQueue(CONSUMER);

    const report = await reconcile();
    expect(report.rescheduled).toBe(1);
    await worker.start();
    await eventually(async () => (await effects(lateId)) === 1, 15_000, 'the late event handled');
    await worker.stop();
    expect(await effects(lateId)).toBe(1);
    // Everything done now: the watermark passes every row.
    await reconcile();
    const { rows: behind } = await db.pool.query(
      `SELECT count(*)::int AS "after" FROM outbox_consumer c, outbox_message m
        WHERE c.name = $1 AND (m.writer_xid, m.seq) > (c.watermark_xid, c.watermark_seq)`,
      [CONSUMER],
    );
    expect(behind[0].after).toBe(0);
  });
});
