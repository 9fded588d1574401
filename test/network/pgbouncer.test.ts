// The whole flow through a real PgBouncer in transaction mode (what many production
// apps connect through): writers, relay, worker and reconciler, with `pgbouncer=true`
// in their URLs; and without it, an error that says what to do.
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { sqltag as sql } from '@prisma/client/runtime/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../generated/prisma/client.js';
import { createOutbox, createReconciler, createRelay, createWorker, defineConsumer, livePgPoolConfig } from '../../src/index.js';
import { createPgSqlStore } from '../../src/database/sqlStore.js';
import { anything, testEvents } from '../support/events.js';
import { startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
let bouncer: PgBouncer;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

beforeAll(async () => {
  [db, broker, bouncer] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('pgbouncer'), startPgBouncer('transaction')]);
});
afterAll(async () => {
  await bouncer?.stop();
  await broker?.delete();
  await db?.drop();
});

describe('through PgBouncer in transaction mode', () => {
  it('without pgbouncer=true, the relay fails with a message that says what to do (PgBouncer refuses statement_timeout at startup)', async () => {
    const relay = createRelay({ databaseUrl: bouncer.url(db.url, false), amqpUrl: broker.url, logger, brokerWaitMs: 5_000 });
    try {
      await expect(relay.runOnce()).rejects.toThrow(/unsupported startup parameter.*add pgbouncer=true to the database URL/s);
    } finally {
      await relay.stop();
    }
  });

  it('with pgbouncer=true the batch transactions still carry a server-side statement_timeout (SET LOCAL)', async () => {
    const store = createPgSqlStore(bouncer.url(db.url), { queryTimeoutMs: 12_000 });
    try {
      const [inside] = await store.transaction((query) => query<{ statement_timeout: string }>(sql`SHOW statement_timeout`), 5_000);
      expect(inside!.statement_timeout).toBe('12s');
    } finally {
      await store.close();
    }
  });

  it('with pgbouncer=true: writes, relay, a wiped queue re-filled by the reconciler, and a worker that handles each event once', async () => {
    const appPool = { ...livePgPoolConfig(bouncer.url(db.url), { applicationName: 'pgbouncer-app' }), max: 4 };
    const prisma = new PrismaClient({ adapter: new PrismaPg(appPool) });
    type Tx = Parameters<Parameters<typeof prisma.$transaction>[0]>[0];
    const name = 'through-pgbouncer';
    const consumer = defineConsumer<typeof testEvents, Tx>({
      name,
      events: ['test.anything'],
      concurrency: 4,
      async handle({ tx, messageId }) {
        await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
      },
    });
    const worker = createWorker({ prisma, amqpUrl: broker.url, events: testEvents, consumers: [consumer], logger });
    const relay = createRelay({ databaseUrl: bouncer.url(db.url), amqpUrl: broker.url, logger });
    try {
      // The queue exists (the worker declares it), then loses what the relay put in it.
      await worker.start();
      await worker.stop();
      const outbox = createOutbox({ events: testEvents });
      const ids = await prisma.$transaction((tx) =>
        outbox.publishMany(
          tx,
          Array.from({ length: 40 }, (_, index) => ({ event: anything, payload: index })),
        ),
      );
      expect(await relay.runOnce()).toMatchObject({ published: 40, failed: 0 });
      await broker.channel.purgeQueue(name);

      const reconciler = createReconciler({
        databaseUrl: bouncer.url(db.url),
        amqpUrl: broker.url,
        events: testEvents,
        consumers: [consumer],
        graceMs: 0,
        logger,
      });
      try {
        expect(await reconciler.runOnce()).toMatchObject({ status: 'done', rescheduled: 40 });
      } finally {
        await reconciler.stop();
      }

      await worker.start();
      await eventually(async () => (await db.pool.query('SELECT count(*)::int AS count FROM demo_signup_log')).rows[0].count === 40, 20_000, 'every effect');
      const { rows } = await db.pool.query<{ message_id: string; count: number }>(
        'SELECT message_id::text, count(*)::int AS count FROM demo_signup_log GROUP BY 1',
      );
      expect(rows.map((row) => row.message_id).sort()).toEqual([...ids].sort());
      expect(rows.every((row) => row.count === 1)).toBe(true);
    } finally {
      await worker.stop();
      await relay.stop();
      await prisma.$disconnect();
    }
  });
});
