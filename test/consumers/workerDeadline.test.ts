// A delivery whose database work does not finish (here: it waits on a lock the test
// holds, as it would on a connection gone silent) is handed back at its deadline: its
// concurrency slot is freed for the next delivery, health() says a delivery is stuck,
// and when the stuck transaction commits after all, the inbox turns its redeliveries
// into skips: one effect.
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../generated/prisma/client.js';
import { createWorker, defineConsumer } from '../../src/index.js';
import { captureLogs, LEVEL } from '../support/captureLogs.js';
import { testEvents } from '../support/events.js';
import { startFaultProxy } from '../support/faultProxy.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const LOCK = 4242;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('worker-deadline')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

const effects = async (messageId: string) =>
  (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM demo_signup_log WHERE message_id = $1', [messageId])).rows[0]!.n;

describe('the delivery deadline', () => {
  it(
    'hands a stuck delivery back, frees its slot, reports it in health(); the late commit and the redeliveries make one effect',
    { timeout: 60_000 },
    async () => {
      const { logger, lines } = captureLogs('info');
      const name = 'deadline';
      const worker = createWorker({
        prisma: db.prisma,
        amqpUrl: broker.url,
        events: testEvents,
        logger,
        deliveryTimeoutMs: 1_000,
        transactionTimeoutMs: 20_000,
        consumers: [
          defineConsumer<typeof testEvents, Tx>({
            name,
            events: ['test.anything'],
            concurrency: 1,
            retryDelays: [500],
            async handle({ tx, messageId, event }) {
              if (event.payload === 'wait') await tx.$queryRaw`SELECT pg_advisory_xact_lock(${LOCK})::text`;
              await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
            },
          }),
        ],
      });
      const holder = await db.pool.connect();
      try {
        await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
        await worker.start();
        expect(worker.health()).toMatchObject({ healthy: true, component: 'worker' });

        const stuck = publishRaw(broker.channel, { type: 'test.anything', payload: 'wait' });
        const next = publishRaw(broker.channel, { type: 'test.anything', payload: 'free' });
        // One handler at a time: the next message is handled only because the stuck one gave its slot back.
        await eventually(async () => (await effects(next)) === 1, 10_000, 'the next message handled while the first is stuck');
        expect(await effects(stuck)).toBe(0);
        const handedBack = lines.filter((line) => line.msg.startsWith('delivery stuck past its deadline'));
        expect(handedBack.length).toBeGreaterThanOrEqual(1);
        expect(handedBack[0]).toMatchObject({ level: LEVEL.warn, consumer: name, messageId: stuck, eventType: 'test.anything', deliveryTimeoutMs: 1_000 });
        const report = worker.health();
        expect(report.healthy).toBe(false);
        expect(report.checks.deliveries).toMatchObject({ ok: false });
        expect(report.checks.deliveries!.detail).toContain(stuck);

        // The lock goes: the first transaction commits after all; every copy handed back since is a duplicate.
        await holder.query('SELECT pg_advisory_unlock($1)', [LOCK]);
        await eventually(async () => (await effects(stuck)) === 1, 10_000, 'the stuck message done');
        await eventually(() => worker.health().healthy, 10_000, 'health() healthy again');
        await eventually(async () => (await broker.channel.checkQueue(name)).messageCount === 0, 10_000, 'the queue drained');
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        expect(await effects(stuck)).toBe(1);
        expect((await db.pool.query('SELECT status::text FROM outbox_inbox WHERE message_id = $1', [stuck])).rows).toEqual([{ status: 'done' }]);
        // Handed back through the retry tier, not requeued: the quorum queue's delivery limit is not spent on it.
        expect((await broker.channel.checkQueue(`${name}.dlq`)).messageCount).toBe(0);
      } finally {
        holder.release();
        await worker.stop();
      }
    },
  );

  it(
    'a transaction whose client is gone for good (half-open) does not keep the inbox row locked: the server ends it, the redelivery is handled',
    { timeout: 60_000 },
    async () => {
      // The app's client as many apps build it: a plain pool, no timeouts at all, through the fault proxy.
      const proxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(db.url).port || 5432) });
      const pool = new pg.Pool({ connectionString: proxy.url(db.url), max: 4 });
      pool.on('error', () => {});
      const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
      const name = 'vanished-client';
      const transactionTimeoutMs = 2_000;
      let cut = false;
      const worker = createWorker({
        prisma,
        amqpUrl: broker.url,
        events: testEvents,
        logger: captureLogs('info').logger,
        transactionTimeoutMs,
        deliveryTimeoutMs: 1_000,
        consumers: [
          defineConsumer<typeof testEvents, Tx>({
            name,
            events: ['test.anything'],
            retryDelays: [500],
            async handle({ tx, messageId }) {
              // Once, after the inbox row is written and locked: the network goes silent for
              // good on this connection (new ones pass again at once), as a dropped NAT entry would.
              if (!cut) {
                cut = true;
                proxy.blackhole();
                proxy.heal();
              }
              await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
            },
          }),
        ],
      });
      try {
        await worker.start();
        const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'cut' });
        const startedAt = Date.now();
        await eventually(async () => (await effects(messageId)) === 1, 30_000, 'the message handled after its first transaction was ended by the server');
        // The orphaned transaction is ended by idle_in_transaction_session_timeout (transactionTimeoutMs + 5 s), not before.
        expect(Date.now() - startedAt).toBeGreaterThanOrEqual(transactionTimeoutMs + 5_000 - 1_000);
        expect((await db.pool.query('SELECT status::text FROM outbox_inbox WHERE message_id = $1', [messageId])).rows).toEqual([{ status: 'done' }]);
      } finally {
        await worker.stop();
        // Closing the proxy ends the silent connection; its query fails and the pool can end.
        await proxy.close();
        await prisma.$disconnect();
        await pool.end();
      }
    },
  );
});
