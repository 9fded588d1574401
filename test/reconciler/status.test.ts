// `outbox status` as an operator runs it: relay lag, what a consumer has not done,
// a reconciler that never ran. (Broker and database details: test/status.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxCli } from '../support/outboxCli.js';
import { createTestBroker, eventually, managementApi, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const CONSUMER = 'process-test';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('status')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

async function status(json: boolean) {
  const cli = startOutboxCli(['status', '--config', 'test/fixtures/worker.config.ts', ...(json ? ['--json'] : [])], {
    DATABASE_URL: db.url,
    AMQP_URL: broker.url,
    CONSUMER_NAME: CONSUMER,
  });
  const exit = await cli.exited;
  // Alerts: exit 3.
  expect(exit.code, cli.output()).toBe(3);
  return cli.output();
}

describe('outbox status', () => {
  it('shows relay lag as an alert, what a consumer has not done, queue depths, and a reconciler that never ran', async () => {
    await db.pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '3 hours')", [CONSUMER]);
    // The relay has been down for an hour: one row waits since then.
    await db.pool.query(
      "INSERT INTO outbox_message (id, event_type, payload, created_at, available_at) VALUES (gen_random_uuid(), 'test.anything', '1', now() - interval '1 hour', now() - interval '1 hour')",
    );
    // One event published that the consumer never finished, and one it did.
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at)
       SELECT gen_random_uuid(), 'test.anything', '2', 'published', now(), now() - interval '30 minutes' FROM generate_series(1, 2) RETURNING id::text`,
    );
    await db.pool.query("INSERT INTO outbox_inbox (consumer, message_id, status, done_at) VALUES ($1, $2, 'done', now())", [CONSUMER, rows[0]!.id]);
    // Its queues, as the worker would declare them.
    await broker.channel.assertQueue(CONSUMER, { durable: true });
    await broker.channel.assertQueue(`${CONSUMER}.dlq`, { durable: true });
    // Depths are the management API's statistics: wait until it has sampled both queues (unsampled is unknown, not 0).
    for (const queue of [CONSUMER, `${CONSUMER}.dlq`]) {
      await eventually(async () => {
        const response = await managementApi('GET', `/queues/${encodeURIComponent(broker.vhost)}/${encodeURIComponent(queue)}?columns=messages`);
        return response.ok && typeof ((await response.json()) as { messages?: number }).messages === 'number';
      }, 30_000);
    }

    const report = JSON.parse(await status(true));
    expect(report.relay).toMatchObject({ pending: 1, failed: 0, stale: true });
    expect(report.relay.oldestPendingAgeMs).toBeGreaterThan(3_500_000);
    // The undone event is 30 minutes old: past the reconciler's 15-minute grace, so not done, not in flight.
    expect(report.consumers).toEqual([expect.objectContaining({ consumer: CONSUMER, notDone: 1, inFlight: 0, dead: 0, queueDepth: 0, dlqDepth: 0 })]);
    expect(report.reconciler).toEqual({ lastRun: null, overdue: true });
    expect(report.broker.management.state).toBe('ok');
    expect(report.alerts.join('\n')).toMatch(/is the relay running\?[\s\S]*reconciler: it has never run/);

    const text = await status(false);
    expect(text).toContain('relay        pending 1');
    expect(text).toContain('is the relay running?');
  });
});
