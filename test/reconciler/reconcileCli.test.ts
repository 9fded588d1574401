// `outbox reconcile --once --config ...` as a user runs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxCli } from '../support/outboxCli.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const CONSUMER = 'process-test';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('reconcile-cli')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

describe('outbox reconcile --once', () => {
  it('re-publishes a published event its consumer never finished, and prints the report', async () => {
    await db.pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '2 hours')", [CONSUMER]);
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at, available_at)
       VALUES (gen_random_uuid(), 'test.anything', '"lost"', 'published', now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour')
       RETURNING id::text`,
    );
    const cli = startOutboxCli(['reconcile', '--once', '--config', 'test/fixtures/worker.config.ts'], {
      DATABASE_URL: db.url,
      AMQP_URL: broker.url,
      CONSUMER_NAME: CONSUMER,
      LOG_LEVEL: 'warn',
    });
    const exit = await cli.exited;
    expect(exit.code, cli.output()).toBe(0);
    // stdout is the report alone (logs go to stderr).
    const report = JSON.parse(cli.stdout());
    expect(report).toMatchObject({ status: 'done', rescheduled: 1, consumers: [{ consumer: CONSUMER, rescheduled: 1 }] });
    const message = await broker.channel.get(CONSUMER);
    expect(message && message.properties.messageId).toBe(rows[0]!.id);
    expect(message && message.properties.headers?.['outbox-rescheduled-at']).toBeDefined();
  });

  it('scheduled, serves its health on --metrics-port: database, broker, run', async () => {
    const cli = startOutboxCli(['reconcile', '--config', 'test/fixtures/worker.config.ts', '--schedule', '*/1 * * * * *', '--metrics-port', '0'], {
      DATABASE_URL: db.url,
      AMQP_URL: broker.url,
      CONSUMER_NAME: CONSUMER,
    });
    try {
      await eventually(() => cli.output().includes('"reconciler run done"'), 20_000, `a scheduled run:\n${cli.output()}`);
      const port = (
        JSON.parse(
          cli
            .stderr()
            .split('\n')
            .find((line) => line.includes('metricsPort'))!,
        ) as { metricsPort: number }
      ).metricsPort;
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({
        healthy: true,
        component: 'reconciler',
        checks: { database: { ok: true }, broker: { ok: true }, run: { ok: true } },
      });
    } finally {
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    }
  });
});
