// Reconciler runs are recorded truthfully: what a run re-published is counted as it
// goes, so a run cut off by the database says what it did; a run whose process was
// SIGKILLed is closed as abandoned by the next run; the lock is free on every path.
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createReconciler, defineConsumer } from '../../src/index.js';
import { declareConsumerTopology, workerTopology } from '../../src/broker/consumerTopology.js';
import { resolveConsumer } from '../../src/catalog/defineConsumer.js';
import { testEvents } from '../support/events.js';
import { startOutboxCli } from '../support/outboxCli.js';
import { runOutboxCli } from '../support/runOutboxCli.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
// The consumer of test/fixtures/worker.config.ts, under the name the CLI tests give it.
const CONSUMER = 'run-records';
const consumer = defineConsumer<typeof testEvents, unknown>({ name: CONSUMER, events: ['test.anything'], async handle() {} });
const OWED = 3000;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('reconciler-runs')]);
  await declareConsumerTopology(broker.channel, workerTopology(), resolveConsumer(consumer));
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox_message, outbox_inbox, outbox_consumer, outbox_reschedule, outbox_reconciler_run');
  await broker.channel.purgeQueue(CONSUMER);
  await db.pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '2 hours')", [CONSUMER]);
  await db.pool.query(
    `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at, available_at)
     SELECT gen_random_uuid(), 'test.anything', to_jsonb(n), 'published', now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'
       FROM generate_series(1, $1) AS n`,
    [OWED],
  );
});

const runs = async () =>
  (
    await db.pool.query<{ id: string; status: string; rescheduled: number; error: string | null }>(
      'SELECT id::text, status, rescheduled, error FROM outbox_reconciler_run ORDER BY id',
    )
  ).rows;
const recordedReschedules = async () => (await db.pool.query<{ n: number }>('SELECT coalesce(sum(count), 0)::int AS n FROM outbox_reschedule')).rows[0]!.n;
const queueDepth = async () => (await broker.channel.checkQueue(CONSUMER)).messageCount;
/** Waits until the running run has committed at least `count` re-publishes: progress is written as it goes. */
const runningWithProgress = (count: number) =>
  eventually(
    async () => (await runs()).some((run) => run.status === 'running' && run.rescheduled >= count),
    30_000,
    `a running run with ${count} re-published`,
  );

async function lockIsFree(): Promise<boolean> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext('prisma-rabbitmq-outbox.reconciler')) AS locked");
    return rows[0]!.locked;
  } finally {
    await client.end();
  }
}

/** A stand-in for the worker: takes what is in the queue and records it done. */
async function consumeAll(): Promise<number> {
  const delivered = await takeAll(broker.channel, CONSUMER);
  const ids = delivered.map((message) => message.properties.messageId as string);
  await db.pool.query("INSERT INTO outbox_inbox (consumer, message_id, status, done_at) SELECT $1, unnest($2::uuid[]), 'done', now() ON CONFLICT DO NOTHING", [
    CONSUMER,
    ids,
  ]);
  return ids.length;
}

describe('reconciler run records', () => {
  it('a run whose database sessions are cut mid-run is recorded failed with what it re-published; the lock is free; the next run does the rest', async () => {
    const reconciler = createReconciler({
      databaseUrl: db.url,
      amqpUrl: broker.url,
      events: testEvents,
      consumers: [consumer],
      graceMs: 0,
      maxRescheduleRate: 1000,
      logger,
    });
    const run = reconciler.runOnce();
    run.catch(() => {});
    await runningWithProgress(500);
    await db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'outbox-reconciler' AND datname = current_database()");
    await expect(run).rejects.toThrow();
    await reconciler.stop();

    const [failed] = await runs();
    expect(failed).toMatchObject({ status: 'failed' });
    expect(failed!.error).toBeTruthy();
    // Truthful: every re-publish the broker confirmed is counted, in the run and in the back-off records.
    expect(failed!.rescheduled).toBeGreaterThan(0);
    expect(failed!.rescheduled).toBeLessThan(OWED);
    expect(await queueDepth()).toBe(failed!.rescheduled);
    expect(await recordedReschedules()).toBe(failed!.rescheduled);
    expect(await lockIsFree()).toBe(true);

    // The consumer works through what arrived; the next run re-publishes the rest, and only the rest.
    expect(await consumeAll()).toBe(failed!.rescheduled);
    const next = createReconciler({
      databaseUrl: db.url,
      amqpUrl: broker.url,
      events: testEvents,
      consumers: [consumer],
      graceMs: 0,
      maxRescheduleRate: 0,
      logger,
    });
    const report = await next.runOnce();
    await next.stop();
    expect(report).toMatchObject({ status: 'done', rescheduled: OWED - failed!.rescheduled });
    expect(await consumeAll()).toBe(OWED - failed!.rescheduled);
    expect(await recordedReschedules()).toBe(OWED);
  });

  it('a run left running by a SIGKILLed process is closed as abandoned by the next run, its counts kept', async () => {
    const env = { DATABASE_URL: db.url, AMQP_URL: broker.url, CONSUMER_NAME: CONSUMER, LOG_LEVEL: 'warn' };
    const doomed = startOutboxCli(['reconcile', '--once', '--config', 'test/fixtures/worker.config.ts', '--grace', '0s'], env);
    await runningWithProgress(500);
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    const [killed] = await runs();
    expect(killed!.status).toBe('running');

    const next = await runOutboxCli(['reconcile', '--once', '--config', 'test/fixtures/worker.config.ts', '--grace', '0s'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toMatchObject({ status: 'done' });
    const [abandoned, done] = await runs();
    expect(abandoned).toMatchObject({ id: killed!.id, status: 'abandoned', rescheduled: killed!.rescheduled });
    expect(abandoned!.rescheduled).toBeGreaterThanOrEqual(500);
    expect(done).toMatchObject({ status: 'done' });
    expect(next.stderr).toContain('abandoned');
    // What the killed run confirmed is recorded (a chunk confirmed but not yet written died with it).
    expect(await recordedReschedules()).toBe(abandoned!.rescheduled + done!.rescheduled);
    expect(await lockIsFree()).toBe(true);

    // `outbox status` reads the last run; an abandoned one is an alert.
    await db.pool.query("UPDATE outbox_reconciler_run SET status = 'abandoned' WHERE id = $1", [done!.id]);
    const status = await runOutboxCli(['status', '--config', 'test/fixtures/worker.config.ts', '--json'], env);
    const report = JSON.parse(status.stdout);
    expect(report.reconciler.lastRun).toMatchObject({ id: done!.id, status: 'abandoned' });
    expect(report.alerts.join('\n')).toContain(`reconciler: the last run (#${done!.id}) was abandoned`);
  });
});
