// The scheduled reconciler as a process behind the fault proxy (PostgreSQL and
// RabbitMQ both), with no supervisor, while it re-publishes a large backlog of lost
// messages: after every network fault it is still running, has logged the outage
// once, left no run 'running', counted truthfully what it re-published, and its
// next runs finish the work.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { declareConsumerTopology, workerTopology } from '../../src/broker/consumerTopology.js';
import { defineConsumer, resolveConsumer } from '../../src/catalog/defineConsumer.js';
import { testEvents } from '../support/events.js';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.js';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { createTestBroker, eventually, managementApi, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
let pgProxy: FaultProxy;
let amqpProxy: FaultProxy;
let reconciler: CliProcess | undefined;
/** Deliveries of re-published copies the stand-in consumer took. */
let deliveries = 0;

const CONSUMER = 'reconciler-network';
const OWED = 3000;
/** After the fault has ended, every owed message is done within this. */
const RECOVERY_MS = 75_000;
const HEARTBEAT_S = 1;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('reconciler-network')]);
  pgProxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(db.url).port || 5432) });
  amqpProxy = await startFaultProxy({ host: '127.0.0.1', port: 5672 });
  // The queue as the reconciler declares it (test/fixtures/worker.config.ts's consumer).
  const consumer = defineConsumer<typeof testEvents, unknown>({ name: CONSUMER, events: ['test.anything'], async handle() {} });
  await declareConsumerTopology(broker.channel, workerTopology(), resolveConsumer(consumer));
  // A stand-in for the worker, straight to the broker and the database (no proxy): it
  // records each delivery done, so each run finds the queue empty and re-publishes the rest.
  const channel = await broker.connection.createChannel();
  await channel.prefetch(500);
  await channel.consume(CONSUMER, (message) => {
    if (!message) return;
    deliveries += 1;
    db.pool
      .query("INSERT INTO outbox_inbox (consumer, message_id, status, done_at) VALUES ($1, $2, 'done', now()) ON CONFLICT DO NOTHING", [
        CONSUMER,
        message.properties.messageId,
      ])
      .then(
        () => channel.ack(message),
        () => channel.nack(message),
      );
  });
});

afterAll(async () => {
  await Promise.all([pgProxy?.close(), amqpProxy?.close()]);
  await broker?.delete();
  await db?.drop();
});

beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox_message, outbox_inbox, outbox_consumer, outbox_reschedule, outbox_reconciler_run');
  deliveries = 0;
  await db.pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '2 hours')", [CONSUMER]);
  // Published an hour ago and never delivered: all owed, all lost.
  await db.pool.query(
    `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at, available_at)
     SELECT gen_random_uuid(), 'test.anything', to_jsonb(n), 'published', now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'
       FROM generate_series(1, $1) AS n`,
    [OWED],
  );
  reconciler = startOutboxCli(['reconcile', '--config', 'test/fixtures/worker.config.ts', '--schedule', '*/2 * * * * *', '--grace', '0s'], {
    DATABASE_URL: pgProxy.url(db.url),
    AMQP_URL: `${amqpProxy.url(broker.url)}?heartbeat=${HEARTBEAT_S}`,
    CONSUMER_NAME: CONSUMER,
  });
  // Mid re-publish (200 a second): the stand-in consumer has had some of them.
  await eventually(() => deliveries >= 600, 30_000, `a run under way:\n${reconciler.output().slice(-3000)}`);
});

afterEach(async () => {
  pgProxy.heal();
  amqpProxy.heal();
  reconciler?.child.kill('SIGKILL');
  await reconciler?.exited;
});

const runs = async () =>
  (
    await db.pool.query<{ id: string; status: string; rescheduled: number; startedAt: Date }>(
      'SELECT id::text, status, rescheduled, started_at AS "startedAt" FROM outbox_reconciler_run ORDER BY id',
    )
  ).rows;
const count = async (text: string) => (await db.pool.query<{ n: number }>(text)).rows[0]!.n;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Closes the reconciler's AMQP connection from the broker's side, as `rabbitmqctl stop_app` or `close_all_connections` do. */
async function closeReconcilerConnectionsFromBroker(): Promise<void> {
  let targets: { name: string }[] = [];
  // The management API lists a new connection within a few seconds, not at once.
  await eventually(
    async () => {
      const response = await managementApi('GET', `/vhosts/${encodeURIComponent(broker.vhost)}/connections`);
      const connections = (await response.json()) as { name: string; client_properties?: { connection_name?: string } }[];
      targets = connections.filter((connection) => connection.client_properties?.connection_name?.startsWith('reconciler-'));
      return targets.length > 0;
    },
    15_000,
    "the reconciler's connection listed by the management API",
  );
  for (const connection of targets) await managementApi('DELETE', `/connections/${encodeURIComponent(connection.name)}`);
}

/** After the fault: the process alive, every owed message done, a clean stop; then what the records must say. */
async function recoversTruthfully(faultAt: number): Promise<void> {
  const cli = reconciler!;
  const context = () => cli.output().slice(-4000);
  await eventually(
    async () => (await count(`SELECT count(*)::int AS n FROM outbox_inbox WHERE consumer = '${CONSUMER}'`)) === OWED,
    RECOVERY_MS,
    `every owed message done:\n${context()}`,
  );
  await eventually(
    async () => (await runs()).some((run) => run.status === 'done' && run.startedAt.getTime() > faultAt),
    30_000,
    `a run done after the fault:\n${context()}`,
  );
  expect(cli.child.exitCode, context()).toBeNull();
  expect(cli.child.signalCode).toBeNull();

  cli.child.kill('SIGTERM');
  const exit = await cli.exited;
  expect(exit.code, context()).toBe(0);
  const output = cli.output();
  expect(output).not.toMatch(/unhandled promise rejection|uncaught exception/);
  // One line per outage, not one per failed run.
  expect(output.match(/"reconciler run failed/g)?.length ?? 0, context()).toBeLessThanOrEqual(1);
  if (output.includes('"reconciler run failed')) expect(output).toContain('reconciler runs succeed again');

  const all = await runs();
  expect(all.filter((run) => run.status === 'running' || run.status === 'abandoned')).toEqual([]);
  // Truthful: each run's count is what the broker confirmed, recorded with each message's back-off;
  // a copy sent but not confirmed when the connection died may still have arrived (at most
  // one chunk of them), never the other way round.
  const counted = all.reduce((sum, run) => sum + run.rescheduled, 0);
  expect(await count('SELECT coalesce(sum(count), 0)::int AS n FROM outbox_reschedule')).toBe(counted);
  expect(counted).toBeGreaterThan(OWED - 500);
  expect(deliveries).toBeGreaterThanOrEqual(counted);
  if (process.env.TEST_SHOW_OUTPUT) console.log(output);
}

describe('the reconciler behind a faulty network, no supervisor', { timeout: 150_000 }, () => {
  it('the broker connection reset mid re-publish: the run fails cleanly, the next ones finish', async () => {
    const faultAt = Date.now();
    amqpProxy.reset();
    await recoversTruthfully(faultAt);
    expect(reconciler!.output()).toContain('broker connection lost; reconnecting');
  });

  it('the broker closes the connection (as stop_app or close_all_connections do)', async () => {
    const faultAt = Date.now();
    await closeReconcilerConnectionsFromBroker();
    await recoversTruthfully(faultAt);
  });

  it('a broker partition longer than the heartbeat', async () => {
    const faultAt = Date.now();
    await amqpProxy.partition(6_000);
    await recoversTruthfully(faultAt);
  });

  it('a half-open broker connection (black hole): the heartbeat notices', async () => {
    const faultAt = Date.now();
    amqpProxy.blackhole();
    await sleep(4_000);
    amqpProxy.heal();
    await recoversTruthfully(faultAt);
  });

  it('every database connection reset mid-run', async () => {
    const faultAt = Date.now();
    pgProxy.reset();
    await recoversTruthfully(faultAt);
  });

  it('a half-open database connection (black hole): the lock is given up, the run recorded, the next runs finish', async () => {
    const faultAt = Date.now();
    pgProxy.blackhole();
    await sleep(5_000);
    pgProxy.heal();
    await recoversTruthfully(faultAt);
  });

  it('a database partition', async () => {
    const faultAt = Date.now();
    await pgProxy.partition(5_000);
    await recoversTruthfully(faultAt);
  });
});
