// The relay's last resort and its health: with the app's Prisma client (whose pool
// has no reply timeout) behind a half-open network, a batch hangs; the watchdog
// notices at its deadline, starts afresh, and /health says so meanwhile.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../../generated/prisma/client.js';
import { createRelay, type Relay } from '../../src/index.js';
import { captureLogs } from '../support/captureLogs.js';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.js';
import { seedPendingRows } from '../support/outboxRows.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
let pgProxy: FaultProxy;
let amqpProxy: FaultProxy;
let prismaPool: pg.Pool;
let prisma: PrismaClient;
let relay: Relay | undefined;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('relay-watchdog')]);
  pgProxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(db.url).port || 5432) });
  amqpProxy = await startFaultProxy({ host: '127.0.0.1', port: 5672 });
  // An app's pool as many are written: no keepalive, no timeouts.
  prismaPool = new pg.Pool({ connectionString: pgProxy.url(db.url), max: 4 });
  prismaPool.on('error', () => {});
  prisma = new PrismaClient({ adapter: new PrismaPg(prismaPool) });
});

afterAll(async () => {
  await relay?.stop();
  await Promise.all([pgProxy?.close(), amqpProxy?.close()]);
  await prisma?.$disconnect().catch(() => {});
  await broker?.delete();
  await db?.drop();
});

const notYetPublished = async () =>
  (await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox_message WHERE status <> 'published'")).rows[0]!.n;

describe('relay watchdog and health', () => {
  it('a batch hung on a silent connection: unhealthy, dropped at the deadline, publishing again after the fault', { timeout: 120_000 }, async () => {
    const { logger, lines } = captureLogs('info');
    relay = createRelay({
      prisma,
      amqpUrl: `${amqpProxy.url(broker.url)}?heartbeat=1`,
      batchSize: 20,
      maxInFlight: 20,
      confirmTimeoutMs: 1_000,
      stuckAfterMs: 4_000,
      summaryIntervalMs: 0,
      logger,
    });
    expect(relay.health().healthy).toBe(false);
    await relay.start();
    await seedPendingRows(db.pool, 50);
    await eventually(async () => (await notYetPublished()) === 0, 30_000, 'the first rows');
    expect(relay.health()).toMatchObject({
      healthy: true,
      component: 'relay',
      checks: { running: { ok: true }, loop: { ok: true }, database: { ok: true }, broker: { ok: true } },
    });

    pgProxy.blackhole();
    await seedPendingRows(db.pool, 50);
    await eventually(() => !relay!.health().healthy, 20_000, 'the relay to report itself unhealthy');
    const unhealthy = relay.health();
    expect(unhealthy.checks.loop!.ok && unhealthy.checks.database!.ok).toBe(false);
    await eventually(() => lines.some((line) => line.msg.startsWith('relay batch stuck')), 20_000, 'the watchdog');

    pgProxy.heal();
    await eventually(async () => (await notYetPublished()) === 0, 60_000, 'the relay to publish again after the fault');
    await eventually(() => relay!.health().healthy, 20_000, 'healthy again');
    await relay.stop();
    relay = undefined;
  });
});
