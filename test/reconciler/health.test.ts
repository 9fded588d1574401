// reconciler.health(): the database reachable, the broker reachable when a run
// needed it, no run past its deadline. And a run that cannot reach the broker fails
// cleanly: recorded failed, lock free, nothing left running.
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReconciler, defineConsumer, type ReconcilerOptions } from '../../src/index.js';
import { createReconcilerHealth } from '../../src/reconciler/reconcilerHealth.js';
import { captureLogs } from '../support/captureLogs.js';
import { testEvents } from '../support/events.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const consumer = defineConsumer<typeof testEvents, unknown>({ name: 'health-test', events: ['test.anything'], async handle() {} });

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('reconciler-health')]);
  await db.pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '2 hours')", [consumer.name]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

function reconciler(overrides: Partial<ReconcilerOptions> = {}) {
  return createReconciler({ databaseUrl: db.url, amqpUrl: broker.url, events: testEvents, consumers: [consumer], graceMs: 0, logger, ...overrides });
}

async function owe(count: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at, available_at)
     SELECT gen_random_uuid(), 'test.anything', '1', 'published', now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour' FROM generate_series(1, $1)`,
    [count],
  );
}

describe('reconciler health', () => {
  it('a run that cannot reach the broker fails typed and cleanly; health says broker; a later run with the broker back is healthy', async () => {
    await owe(5);
    const cut = reconciler({ amqpUrl: 'amqp://guest:guest@127.0.0.1:1', brokerWaitMs: 1_500 });
    expect(cut.health()).toMatchObject({ healthy: true, component: 'reconciler' });
    await expect(cut.runOnce()).rejects.toMatchObject({ code: 'OUTBOX_BROKER_UNREACHABLE' });
    expect(cut.health()).toMatchObject({ healthy: false, checks: { broker: { ok: false }, database: { ok: true }, run: { ok: true } } });
    await cut.stop();
    const { rows } = await db.pool.query<{ status: string }>('SELECT status FROM outbox_reconciler_run ORDER BY id');
    expect(rows).toEqual([{ status: 'failed' }]);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    expect((await client.query("SELECT pg_try_advisory_lock(hashtext('prisma-rabbitmq-outbox.reconciler')) AS locked")).rows[0].locked).toBe(true);
    await client.end();

    const back = reconciler();
    expect(await back.runOnce()).toMatchObject({ status: 'done', rescheduled: 5 });
    expect(back.health()).toMatchObject({ healthy: true, checks: { run: { ok: true, detail: expect.stringMatching(/^last run done/) } } });
    await back.stop();
  });

  it('a run going on past its deadline is unhealthy while it lasts', async () => {
    await db.pool.query('TRUNCATE outbox_message');
    await broker.channel.purgeQueue(consumer.name);
    await owe(30);
    const slow = reconciler({ maxRescheduleRate: 10, runDeadlineMs: 300 });
    const run = slow.runOnce();
    await eventually(() => !slow.health().checks.run!.ok, 10_000, 'the run reported stuck');
    expect(slow.health().checks.run!.detail).toMatch(/running for \d+ s \(deadline 0 s\)/);
    await run;
    expect(slow.health().healthy).toBe(true);
    await slow.stop();
  });

  it('a stop during a scheduled run interrupts it: told as an interruption, not as a failed run; the next run goes on', async () => {
    await db.pool.query('TRUNCATE outbox_message');
    await broker.channel.purgeQueue(consumer.name);
    await owe(40);
    const logs = captureLogs('info');
    const scheduled = reconciler({ schedule: '* * * * * *', maxRescheduleRate: 10, logger: logs.logger });
    await scheduled.start();
    await eventually(
      async () => {
        const { rows } = await db.pool.query("SELECT 1 FROM outbox_reconciler_run WHERE status = 'running'");
        return rows.length === 1;
      },
      10_000,
      'a scheduled run under way',
    );
    await scheduled.stop();
    const messages = logs.lines.map((line) => line.msg);
    expect(messages).toContain('reconciler run interrupted: the reconciler is stopping');
    expect(messages.filter((msg) => msg.startsWith('reconciler run failed'))).toEqual([]);
    const next = reconciler();
    expect(await next.runOnce()).toMatchObject({ status: 'done' });
    await next.stop();
  });

  it('a database failing for longer than the tolerance is unhealthy; a success clears it', () => {
    const health = createReconcilerHealth(60_000);
    const now = Date.now();
    health.database.failed(new Error('connection refused'));
    expect(health.report(now + 5_000).healthy).toBe(true); // a blip
    expect(health.report(now + 31_000)).toMatchObject({
      healthy: false,
      checks: { database: { ok: false, detail: expect.stringContaining('connection refused') } },
    });
    health.database.succeeded();
    expect(health.report().healthy).toBe(true);
  });
});
