// The relay as a process behind the fault proxy, under a steady load, with no
// supervisor: after every network fault it is still running and catches up by
// itself within a stated time.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { seedPendingRows } from '../support/outboxRows.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
let pgProxy: FaultProxy;
let amqpProxy: FaultProxy;
let relay: CliProcess | undefined;
let stopLoad: AbortController;
let load: Promise<void>;

/** Catching up after the fault has ended: the bound each test states. */
const CATCH_UP_MS = 30_000;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('relay-network')]);
  pgProxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(db.url).port || 5432) });
  amqpProxy = await startFaultProxy({ host: '127.0.0.1', port: 5672 });
  await broker.channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
  await broker.channel.assertQueue('tap', { durable: true, arguments: { 'x-max-length': 1 } });
  await broker.channel.bindQueue('tap', 'outbox.events', '#');
});

afterAll(async () => {
  await Promise.all([pgProxy?.close(), amqpProxy?.close()]);
  await broker?.delete();
  await db?.drop();
});

beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox_message');
});

/**
 * The relay through both proxies, publishing a steady load. Its heartbeat is short
 * (1 s) unless a test needs the default's timing, so that faults outlast it in seconds.
 */
async function startRelayUnderLoad(heartbeatSeconds = 1): Promise<void> {
  const amqpUrl = `${amqpProxy.url(broker.url)}?heartbeat=${heartbeatSeconds}`;
  // --listen: the NOTIFY listener's connection goes through the faults too.
  relay = startOutboxCli(['relay', '--batch-size', '50', '--max-in-flight', '100', '--poll-interval', '50ms', '--listen', '--metrics-port', '0'], {
    DATABASE_URL: pgProxy.url(db.url),
    AMQP_URL: amqpUrl,
    OUTBOX_SUMMARY_INTERVAL: '1s',
  });
  await eventually(() => relay!.output().includes('relay started'), 30_000, `the relay to start:\n${relay.output()}`);
  stopLoad = new AbortController();
  // A steady load: 20 rows every 100 ms, written straight to the database (not through the proxy).
  load = (async () => {
    while (!stopLoad.signal.aborted) {
      await seedPendingRows(db.pool, 20);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  await eventually(async () => (await notYetPublished()) === 0 && (await total()) > 100, 30_000, 'the relay to publish');
}

afterEach(async () => {
  stopLoad?.abort();
  await load;
  pgProxy.heal();
  amqpProxy.heal();
  pgProxy.latency(0);
  amqpProxy.latency(0);
  relay?.child.kill('SIGKILL');
  await relay?.exited;
});

const count = async (where: string) => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox_message WHERE ${where}`)).rows[0]!.n;
const total = () => count('true');
const notYetPublished = () => count("status <> 'published'");

/** Stops the load, then waits until everything written is published; returns how long that took. */
async function catchesUp(): Promise<number> {
  stopLoad.abort();
  await load;
  const startedAt = Date.now();
  await eventually(async () => (await notYetPublished()) === 0, CATCH_UP_MS, `the relay to catch up:\n${relay!.output().slice(-4000)}`);
  return Date.now() - startedAt;
}

/** GET /health of the relay process (its metrics port is in its log). */
async function health(): Promise<{ status: number; body: { healthy: boolean; checks: Record<string, { ok: boolean }> } }> {
  const port = /"metricsPort":(\d+)/.exec(relay!.output())![1];
  const response = await fetch(`http://127.0.0.1:${port}/health`);
  return { status: response.status, body: (await response.json()) as { healthy: boolean; checks: Record<string, { ok: boolean }> } };
}

/**
 * Still running, healthy on GET /health, and nothing reached the last-resort
 * handlers (which would have ended it before they existed).
 */
async function expectAlive(): Promise<void> {
  expect(relay!.child.exitCode, relay!.output().slice(-4000)).toBeNull();
  expect(relay!.child.signalCode).toBeNull();
  expect(relay!.output()).not.toMatch(/unhandled promise rejection|uncaught exception/);
  await eventually(async () => (await health()).status === 200, 10_000, 'GET /health to answer 200');
  expect((await health()).body).toMatchObject({ healthy: true, checks: { loop: { ok: true }, database: { ok: true }, broker: { ok: true } } });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('relay behind a faulty network, no supervisor', { timeout: 120_000 }, () => {
  it('a half-open database connection (replies black-holed for good): notices, reconnects, catches up', async () => {
    await startRelayUnderLoad();
    pgProxy.blackhole();
    await sleep(3_000);
    pgProxy.heal();
    await catchesUp();
    await expectAlive();
    expect(relay!.output()).toMatch(/relay batch failed|relay stuck/);
  });

  it('a broker partition longer than the heartbeat: survives, reconnects, catches up', async () => {
    await startRelayUnderLoad();
    await amqpProxy.partition(6_000);
    await catchesUp();
    await expectAlive();
  });

  it('a broker partition that outlasts the confirm timeout (15 s), then the default heartbeat (10 s): survives', async () => {
    // The sequence seen crashing relays: confirms time out, the channel is replaced,
    // and the heartbeat then kills the connection under the channel being opened.
    await startRelayUnderLoad(10);
    await amqpProxy.partition(30_000);
    await catchesUp();
    await expectAlive();
    expect(relay!.output()).toContain('Heartbeat timeout');
  });

  it('a half-open broker connection: the heartbeat notices; reconnects and catches up', async () => {
    await startRelayUnderLoad();
    amqpProxy.blackhole();
    await sleep(4_000);
    amqpProxy.heal();
    await catchesUp();
    await expectAlive();
  });

  it('every connection reset, database and broker at once: catches up', async () => {
    await startRelayUnderLoad();
    pgProxy.reset();
    amqpProxy.reset();
    await catchesUp();
    await expectAlive();
  });

  it('500 ms of latency on both sides: keeps publishing, and catches up once it is gone', async () => {
    await startRelayUnderLoad();
    pgProxy.latency(500);
    amqpProxy.latency(500);
    const before = await count("status = 'published'");
    await sleep(5_000);
    expect(await count("status = 'published'")).toBeGreaterThan(before);
    pgProxy.latency(0);
    amqpProxy.latency(0);
    await catchesUp();
    await expectAlive();
  });
});
