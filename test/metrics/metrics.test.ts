// Prometheus metrics: recorded by the relay and the worker on a registry, and
// served by `outbox relay --metrics-port`.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, createReconciler, createRelay, createWorker, defineConsumer } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { startOutboxCli } from '../support/outboxCli.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('metrics')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

const value = (text: string, metric: string) => {
  const line = text.split('\n').find((candidate) => candidate.startsWith(metric));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

describe('metrics', () => {
  it('count what the relay published and what the worker did, by consumer and outcome', async () => {
    const registry = new Registry();
    const worker = createWorker({
      prisma: db.prisma,
      amqpUrl: broker.url,
      events: testEvents,
      logger,
      metrics: registry,
      consumers: [
        defineConsumer<typeof testEvents, Tx>({
          name: 'metered',
          events: ['user.*'],
          async handle({ tx, messageId }) {
            await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
          },
        }),
      ],
    });
    await worker.start();
    const outbox = createOutbox({ events: testEvents });
    const ids = await db.prisma.$transaction((tx) =>
      outbox.publishMany(
        tx,
        Array.from({ length: 3 }, () => ({ event: 'user.signed-up' as const, payload: { userId: 'u' } })),
      ),
    );
    const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger, metrics: registry });
    await relay.runOnce();
    publishRaw(broker.channel, { type: 'user.signed-up', payload: { userId: 'u' }, messageId: ids[0] }); // a duplicate

    await eventually(
      async () => value(await registry.metrics(), 'outbox_consumer_deliveries_total{consumer="metered",outcome="duplicate"}') === 1,
      10_000,
      'the duplicate counted',
    );
    const text = await registry.metrics();
    expect(value(text, 'outbox_relay_published_total')).toBe(3);
    expect(value(text, 'outbox_consumer_deliveries_total{consumer="metered",outcome="done"}')).toBe(3);
    expect(value(text, 'outbox_relay_publish_latency_seconds_count{event_type="user.signed-up"}')).toBe(3);
    // Commit to handled: the three side effects done (not the duplicate), by consumer and event type.
    const lagLabels = '{consumer="metered",event_type="user.signed-up"}';
    expect(value(text, `outbox_consumer_handled_lag_seconds_count${lagLabels}`)).toBe(3);
    const lagSum = value(text, `outbox_consumer_handled_lag_seconds_sum${lagLabels}`)!;
    expect(lagSum).toBeGreaterThan(0);
    expect(lagSum).toBeLessThan(3 * 60);
    expect(value(text, 'outbox_consumer_handler_duration_seconds_count{consumer="metered"}')).toBe(4);
    expect(value(text, 'outbox_pending_messages')).toBe(0);
    await relay.stop();
    await worker.stop();
  });

  it("the worker reports each consumer's DLQ depth, read from the broker at scrape; absent when stopped", async () => {
    const registry = new Registry();
    const worker = createWorker({
      prisma: db.prisma,
      amqpUrl: broker.url,
      events: testEvents,
      logger,
      metrics: registry,
      consumers: [defineConsumer<typeof testEvents, Tx>({ name: 'dlq-metered', events: ['test.anything'], async handle() {} })],
    });
    await worker.start();
    const dlqDepth = async () => value(await registry.metrics(), 'outbox_consumer_dlq_messages{consumer="dlq-metered"}');
    expect(await dlqDepth()).toBe(0);
    publishRaw(broker.channel, { type: 'test.anything', body: Buffer.from('{not json') }); // malformed: dead-lettered at once
    await eventually(async () => (await dlqDepth()) === 1, 10_000, 'the dead letter counted');
    await worker.stop();
    expect(await dlqDepth()).toBeUndefined();
    await broker.channel.purgeQueue('dlq-metered.dlq');
  });

  it('the reconciler reports its runs, what it re-published, and the oldest side effect not done per consumer', async () => {
    const registry = new Registry();
    const consumer = defineConsumer<typeof testEvents, Tx>({ name: 'reconciled-metered', events: ['test.anything'], async handle() {} });
    const reconciler = createReconciler({ databaseUrl: db.url, amqpUrl: broker.url, events: testEvents, consumers: [consumer], logger, metrics: registry });
    expect((await reconciler.runOnce()).status).toBe('done'); // registers the consumer
    let text = await registry.metrics();
    expect(value(text, 'outbox_consumer_oldest_not_done_age_seconds{consumer="reconciled-metered"}')).toBe(0);
    // Two side effects owed for an hour, never done (their queue lost them), to a consumer registered before them.
    await db.pool.query("UPDATE outbox_consumer SET registered_at = now() - interval '2 hours' WHERE name = 'reconciled-metered'");
    await db.pool.query(
      `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at, available_at)
       SELECT gen_random_uuid(), 'test.anything', '1', 'published', now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'
         FROM generate_series(1, 2)`,
    );
    const before = Date.now() / 1000;
    expect(await reconciler.runOnce()).toMatchObject({ status: 'done', rescheduled: 2 });
    text = await registry.metrics();
    expect(value(text, 'outbox_reconciler_runs_total{status="done"}')).toBe(2);
    expect(value(text, 'outbox_reconciler_rescheduled_total{consumer="reconciled-metered"}')).toBe(2);
    expect(value(text, 'outbox_reconciler_last_run_timestamp_seconds')).toBeGreaterThanOrEqual(before);
    const age = value(text, 'outbox_consumer_oldest_not_done_age_seconds{consumer="reconciled-metered"}')!;
    expect(age).toBeGreaterThanOrEqual(3600);
    expect(age).toBeLessThan(3700);
    await reconciler.stop();
    await broker.channel.purgeQueue('reconciled-metered');
  });

  it('outbox relay --metrics-port serves them over HTTP', async () => {
    const cli = startOutboxCli(['relay', '--metrics-port', '0'], { DATABASE_URL: db.url, AMQP_URL: broker.url });
    await eventually(() => cli.output().includes('metricsPort'), 20_000, 'the metrics server');
    const port = /"metricsPort":(\d+)/.exec(cli.output())![1];
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    const body = await response.text();
    expect(response.status).toBe(200);
    expect(body).toContain('outbox_pending_messages');
    expect(body).toContain('process_resident_memory_bytes');
    cli.child.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });
});
