// The worker as a process (`outbox worker --config`) behind the fault proxy, under
// a steady load, with no supervisor: after every network fault it is still running,
// healthy again, and every message published is handled exactly once (one effect
// row, inbox done) within a stated time after the fault ended.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfirmChannel } from 'amqplib';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
let pgProxy: FaultProxy;
let amqpProxy: FaultProxy;
let publisher: ConfirmChannel;
let worker: CliProcess | undefined;
let stopLoad: AbortController | undefined;
let load: Promise<void> | undefined;
let published: string[] = [];
let consumerCount = 0;

/** Every message handled, counted from the end of the fault: the bound each test states. */
const CATCH_UP_MS = 30_000;
/** The fixture's PostgreSQL reply timeout: a statement may run 2 s, a reply may be 7 s late. */
const PG_QUERY_TIMEOUT_MS = 2_000;
/** How long an outage may last before GET /health says unhealthy (the fixture passes it to the worker). */
const HEALTH_TOLERANCE_MS = 3_000;
/** What each test measured, printed at the end (for the issue note). */
const measured: string[] = [];

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('worker-network')]);
  pgProxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(db.url).port || 5432) });
  amqpProxy = await startFaultProxy({ host: '127.0.0.1', port: 5672 });
  publisher = await broker.connection.createConfirmChannel();
});

afterAll(async () => {
  if (measured.length > 0) console.log(`worker recovery times:\n${measured.join('\n')}`);
  await Promise.all([pgProxy?.close(), amqpProxy?.close()]);
  await broker?.delete();
  await db?.drop();
});

afterEach(async () => {
  stopLoad?.abort();
  await load;
  pgProxy.heal();
  amqpProxy.heal();
  pgProxy.latency(0);
  amqpProxy.latency(0);
  worker?.child.kill('SIGKILL');
  await worker?.exited;
});

/**
 * The worker through both proxies (AMQP heartbeat 1 s, so that faults outlast it in
 * seconds), four handlers at once, then a steady load published straight to the
 * broker (not through the proxy): 5 messages every 100 ms.
 */
async function startWorkerUnderLoad(env: Record<string, string> = {}): Promise<string> {
  consumerCount += 1;
  const consumer = `network-${consumerCount}`;
  worker = startOutboxCli(['worker', '--config', 'test/fixtures/worker.config.ts', '--metrics-port', '0'], {
    DATABASE_URL: pgProxy.url(db.url),
    AMQP_URL: `${amqpProxy.url(broker.url)}?heartbeat=1`,
    CONSUMER_NAME: consumer,
    CONCURRENCY: '4',
    PG_QUERY_TIMEOUT_MS: String(PG_QUERY_TIMEOUT_MS),
    HEALTH_TOLERANCE_MS: String(HEALTH_TOLERANCE_MS),
    OUTBOX_SUMMARY_INTERVAL: '1s',
    ...env,
  });
  await eventually(() => worker!.output().includes('"consuming"'), 30_000, `the worker to consume:\n${worker.output()}`);
  published = [];
  stopLoad = new AbortController();
  load = (async () => {
    while (!stopLoad.signal.aborted) {
      for (let index = 0; index < 5; index += 1) published.push(publishRaw(publisher, { type: 'test.anything', payload: index }));
      await publisher.waitForConfirms();
      await sleep(100);
    }
  })();
  await eventually(async () => published.length > 100 && (await undone()) === 0, 30_000, 'the worker to keep up with the load');
  return consumer;
}

/** Published messages whose effect is not there yet. */
/** Messages published so far whose side effect is done. */
async function done(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(DISTINCT message_id)::int AS n FROM demo_signup_log WHERE message_id = ANY($1::uuid[])', [
    published,
  ]);
  return rows[0]!.n;
}

/** Messages published so far whose side effect is not done (one published during the query counts as not done). */
async function undone(): Promise<number> {
  const doneCount = await done();
  return published.length - doneCount;
}

/** Stops the load, waits until every message published has its effect; returns how long that took. */
async function catchesUp(label: string, faultEndedAt = Date.now()): Promise<number> {
  stopLoad!.abort();
  await load;
  await eventually(async () => (await undone()) === 0, CATCH_UP_MS, `the worker to catch up (${await undone()} undone):\n${worker!.output().slice(-6000)}`);
  const tookMs = Date.now() - faultEndedAt;
  measured.push(`  ${label}: every side effect done ${(tookMs / 1000).toFixed(1)} s after the fault ended (${published.length} messages)`);
  return tookMs;
}

/** Exactly once: one effect row per message, its inbox row done, nothing dead-lettered. */
async function expectExactlyOnce(consumer: string): Promise<void> {
  // Redeliveries of work that committed (acks lost with a connection) arrive a little later; let them be skipped.
  await sleep(1_500);
  const effects = await db.pool.query<{ rows: number; messages: number }>(
    'SELECT count(*)::int AS rows, count(DISTINCT message_id)::int AS messages FROM demo_signup_log WHERE message_id = ANY($1::uuid[])',
    [published],
  );
  expect(effects.rows[0]).toEqual({ rows: published.length, messages: published.length });
  const inbox = await db.pool.query<{ status: string; n: number }>(
    'SELECT status::text, count(*)::int AS n FROM outbox_inbox WHERE consumer = $1 AND message_id = ANY($2::uuid[]) GROUP BY status',
    [consumer, published],
  );
  expect(inbox.rows).toEqual([{ status: 'done', n: published.length }]);
  expect((await broker.channel.checkQueue(`${consumer}.dlq`)).messageCount).toBe(0);
}

interface Health {
  status: number;
  body: { healthy: boolean; component: string; checks: Record<string, { ok: boolean; detail?: string }> };
}

/** GET /health of the worker process (its metrics port is in its log). */
async function health(): Promise<Health> {
  const port = /"metricsPort":(\d+)/.exec(worker!.output())![1];
  const response = await fetch(`http://127.0.0.1:${port}/health`);
  return { status: response.status, body: (await response.json()) as Health['body'] };
}

/** Still running, healthy on GET /health, and nothing reached the last-resort handlers. */
async function expectAlive(): Promise<void> {
  expect(worker!.child.exitCode, worker!.output().slice(-4000)).toBeNull();
  expect(worker!.child.signalCode).toBeNull();
  expect(worker!.output()).not.toMatch(/unhandled promise rejection|uncaught exception/);
  await eventually(async () => (await health()).status === 200, 15_000, `GET /health to answer 200: ${JSON.stringify((await health()).body)}`);
  expect((await health()).body).toMatchObject({
    healthy: true,
    component: 'worker',
    checks: { database: { ok: true }, broker: { ok: true }, deliveries: { ok: true } },
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('worker behind a faulty network, no supervisor', { timeout: 120_000 }, () => {
  it('a half-open database connection (replies black-holed for good): the stuck deliveries fail, their connections are dropped, every message handled once', async () => {
    const consumer = await startWorkerUnderLoad();
    pgProxy.blackhole();
    await sleep(3_000);
    pgProxy.heal();
    await catchesUp('half-open database connection (3 s)');
    await expectExactlyOnce(consumer);
    await expectAlive();
  });

  it('a broker partition longer than the heartbeat: reconnects, every message handled once', async () => {
    const consumer = await startWorkerUnderLoad();
    await amqpProxy.partition(6_000);
    await catchesUp('broker partition (6 s, heartbeat 1 s)');
    await expectExactlyOnce(consumer);
    await expectAlive();
  });

  it('a half-open broker connection: the heartbeat notices; reconnects, every message handled once', async () => {
    const consumer = await startWorkerUnderLoad();
    amqpProxy.blackhole();
    await sleep(4_000);
    amqpProxy.heal();
    await catchesUp('half-open broker connection (4 s)');
    await expectExactlyOnce(consumer);
    await expectAlive();
  });

  it('every connection reset, database and broker at once, twice: every message handled once', async () => {
    const consumer = await startWorkerUnderLoad();
    pgProxy.reset();
    amqpProxy.reset();
    await sleep(1_000);
    pgProxy.reset();
    amqpProxy.reset();
    await catchesUp('resets of both (twice, 1 s apart)');
    await expectExactlyOnce(consumer);
    await expectAlive();
  });

  it('500 ms of latency on both sides: keeps handling, and catches up once it is gone', async () => {
    const consumer = await startWorkerUnderLoad();
    pgProxy.latency(500);
    amqpProxy.latency(500);
    // Counted directly: published.length read before an await would race the load.
    const before = await done();
    await sleep(6_000);
    expect(await done()).toBeGreaterThan(before);
    pgProxy.latency(0);
    amqpProxy.latency(0);
    await catchesUp('500 ms latency both ways (6 s)');
    await expectExactlyOnce(consumer);
    await expectAlive();
  });

  it('GET /health: 503 while the broker is unreachable beyond the tolerance, 200 again once it is back', async () => {
    const consumer = await startWorkerUnderLoad();
    expect((await health()).status).toBe(200);
    amqpProxy.blackhole();
    await eventually(async () => (await health()).status === 503, HEALTH_TOLERANCE_MS + 10_000, 'GET /health to answer 503');
    expect((await health()).body).toMatchObject({ healthy: false, checks: { broker: { ok: false } } });
    amqpProxy.heal();
    const healedAt = Date.now();
    await catchesUp('half-open broker beyond the health tolerance', healedAt);
    await expectExactlyOnce(consumer);
    await expectAlive();
  });

  it('GET /health: 503 while the database keeps failing beyond the tolerance, 200 again once it answers', async () => {
    const consumer = await startWorkerUnderLoad();
    pgProxy.blackhole();
    // The deliveries in flight fail at the reply timeout (7 s), then keep failing for the tolerance (3 s).
    await eventually(async () => (await health()).status === 503, PG_QUERY_TIMEOUT_MS + 5_000 + HEALTH_TOLERANCE_MS + 10_000, 'GET /health to answer 503');
    expect((await health()).body).toMatchObject({ healthy: false, checks: { database: { ok: false }, broker: { ok: true } } });
    pgProxy.heal();
    const healedAt = Date.now();
    await catchesUp('half-open database beyond the health tolerance', healedAt);
    await expectExactlyOnce(consumer);
    await expectAlive();
  });
});
