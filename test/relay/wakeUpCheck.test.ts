// The relay checks that the writers' NOTIFY reaches its LISTEN connection, and polls
// (with one warning) when it does not: through a real PgBouncer in transaction mode,
// where a LISTEN succeeds and then hears nothing.
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, createRelay, type Relay } from '../../src/index.js';
import { listenForWakeUps } from '../../src/relay/listenForWakeUps.js';
import { createPgSqlStore } from '../../src/database/sqlStore.js';
import { sqltag as sql } from '@prisma/client/runtime/client';
import { anything, testEvents } from '../support/events.js';
import { captureLogs, LEVEL } from '../support/captureLogs.js';
import { startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const DEAF_WARNING = /^NOTIFY does not reach the relay/;

let db: TestDatabase;
let broker: TestBroker;
let transactionPool: PgBouncer;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [db, broker, transactionPool] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('wakeups'), startPgBouncer('transaction')]);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await db.pool.query('TRUNCATE outbox_message');
});
afterAll(async () => {
  await transactionPool?.stop();
  await broker?.delete();
  await db?.drop();
});

function startRelay(databaseUrl: string, logger = captureLogs().logger): Relay {
  const relay = createRelay({ databaseUrl, amqpUrl: broker.url, logger, listenForWakeUps: true, pollIntervalMs: 500 });
  cleanups.push(() => relay.stop());
  return relay;
}

async function publishedCount(): Promise<number> {
  const { rows } = await db.pool.query<{ count: number }>("SELECT count(*)::int AS count FROM outbox_message WHERE status = 'published'");
  return rows[0]!.count;
}

describe('the relay’s NOTIFY self-check', () => {
  it('says it listens when the probe comes back (PostgreSQL directly), and warns of nothing', async () => {
    const { logger, lines } = captureLogs();
    const relay = startRelay(db.url, logger);
    await relay.start();
    await eventually(async () => relay.health().checks.wakeUps?.detail?.startsWith('listening') === true, 10_000, 'the listener checked');
    expect(lines.filter((line) => line.level >= LEVEL.warn)).toEqual([]);
  });

  it('through PgBouncer in transaction mode: warns once, says "polling only" in /health, and still publishes (by polling)', async () => {
    const { logger, lines } = captureLogs();
    const relay = startRelay(transactionPool.url(db.url), logger);
    await relay.start();
    await eventually(async () => relay.health().checks.wakeUps?.detail?.startsWith('polling only') === true, 15_000, 'the deaf listener found');
    const warnings = lines.filter((line) => line.level === LEVEL.warn && DEAF_WARNING.test(line.msg));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ component: 'relay', pollIntervalMs: 500 });
    // Deaf is not unhealthy: every event still goes out, at the next poll.
    expect(relay.health().healthy).toBe(true);
    const notifying = createOutbox({ events: testEvents, wakeRelay: true });
    await db.prisma.$transaction((tx) => notifying.publish(tx, anything, 'by polling'));
    await eventually(async () => (await publishedCount()) === 1, 10_000, 'the event published by polling');
  });

  it('hears again once the pooler is fixed (session mode), and says so', async () => {
    const pool = await startPgBouncer('transaction');
    cleanups.push(() => pool.stop());
    const store = createPgSqlStore(db.url);
    cleanups.push(() => store.close());
    const { logger, lines } = captureLogs();
    const controller = new AbortController();
    let wakeUps = 0;
    const listener = listenForWakeUps({
      databaseUrl: pool.url(db.url),
      onWakeUp: () => (wakeUps += 1),
      sendProbe: (channel, payload) => store.query(sql`SELECT 1 AS sent FROM pg_notify(${channel}, ${payload})`),
      logger,
      signal: controller.signal,
      pollIntervalMs: 500,
      probeTimeoutMs: 1_000,
      recheckDeafAfterMs: 500,
    });
    cleanups.push(async () => {
      controller.abort();
      await listener.stop();
    });
    await eventually(async () => listener.state() === 'deaf', 10_000, 'deaf through transaction mode');
    // A commit's NOTIFY is not heard while deaf.
    const before = wakeUps;
    await store.query(sql`SELECT 1 AS sent FROM pg_notify('outbox_message', '')`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(wakeUps).toBe(before);

    await pool.switchPoolMode('session');
    await eventually(async () => listener.state() === 'listening', 10_000, 'listening through session mode');
    expect(lines.filter((line) => DEAF_WARNING.test(line.msg))).toHaveLength(1);
    expect(lines.some((line) => line.level === LEVEL.info && /NOTIFY reaches the relay again/.test(line.msg))).toBe(true);
    const heard = wakeUps;
    await store.query(sql`SELECT 1 AS sent FROM pg_notify('outbox_message', '')`);
    await eventually(async () => wakeUps > heard, 5_000, 'a commit’s NOTIFY heard');
  });

  it('a NOTIFY wakes one batch loop into one claim, not every loop into one or two', async () => {
    const registry = new Registry();
    // Three batch loops (maxInFlight / batchSize); polls far apart, so every claim counted is a wake-up's.
    const relay = createRelay({
      databaseUrl: db.url,
      amqpUrl: broker.url,
      logger: captureLogs().logger,
      listenForWakeUps: true,
      pollIntervalMs: 60_000,
      batchSize: 100,
      maxInFlight: 300,
      metrics: registry,
    });
    cleanups.push(() => relay.stop());
    await relay.start();
    await eventually(async () => relay.health().checks.wakeUps?.detail?.startsWith('listening') === true, 10_000, 'the listener checked');
    const claims = async (result: 'rows' | 'empty') =>
      (await registry.getSingleMetric('outbox_relay_claims_total')!.get()).values.find((value) => value.labels.result === result)?.value ?? 0;
    // The start's claims: one per loop, and one for the wake-up the listener gives once it hears.
    await eventually(async () => (await claims('empty')) === 4, 10_000, 'the start-up claims');
    const emptyBefore = await claims('empty');
    const notifying = createOutbox({ events: testEvents, wakeRelay: true });
    const events = 20;
    for (let index = 0; index < events; index += 1) {
      await db.prisma.$transaction((tx) => notifying.publish(tx, anything, index));
      await eventually(async () => (await publishedCount()) === index + 1, 10_000, `event ${index} published`);
    }
    // Each wake-up: one claim that finds the row. (Waking all three loops, each claiming once
    // or twice, cost about three empty claims per event.)
    expect(await claims('rows')).toBe(events);
    expect((await claims('empty')) - emptyBefore).toBeLessThanOrEqual(2);
  });
});
