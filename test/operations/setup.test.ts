// `outbox setup`, the deploy step: after it, an event relayed before any worker has
// started reaches every configured consumer's queue (not outbox.unroutable), and the
// consumer is owed it. Idempotent; a conflicting queue is a typed error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createOutbox, createRelay } from '../../src/index.js';
import { adminQuery, dropDatabase, scratchDatabaseName } from '../support/adminDatabase.js';
import { databaseUrl } from '../support/databaseUrls.js';
import { testEvents } from '../support/events.js';
import { runOutboxCli } from '../support/runOutboxCli.js';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const CONFIG = 'test/fixtures/worker.config.ts';
let db: TestDatabase;
let broker: TestBroker;
const emptyDatabase = scratchDatabaseName('setup_empty');

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('setup')]);
  await adminQuery(`CREATE DATABASE ${emptyDatabase}`);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
  await dropDatabase(emptyDatabase);
});

const setup = (consumer: string, extra: Record<string, string> = {}, args: string[] = []) =>
  runOutboxCli(['setup', '--config', CONFIG, ...args], { DATABASE_URL: db.url, AMQP_URL: broker.url, CONSUMER_NAME: consumer, ...extra });

describe('outbox setup', () => {
  it('declares the topology and registers the consumer, so events relayed before any worker starts are delivered to it', async () => {
    const first = await setup('deploy-step');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('deploy-step  registered now');
    for (const queue of ['deploy-step', 'deploy-step.retry.1s', 'deploy-step.retry.10m', 'deploy-step.dlq', 'outbox.unroutable']) {
      await expect(broker.channel.checkQueue(queue)).resolves.toMatchObject({ queue });
    }
    expect((await db.pool.query('SELECT name FROM outbox_consumer')).rows).toEqual([{ name: 'deploy-step' }]);

    const again = await setup('deploy-step', {}, ['--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).consumers).toEqual([expect.objectContaining({ consumer: 'deploy-step', newlyRegistered: false })]);

    // No worker runs: the relay alone publishes, and the message waits in the consumer's queue.
    const outbox = createOutbox({ events: testEvents });
    await db.prisma.$transaction((tx) => outbox.publish(tx, 'test.anything', { written: 'after setup' }));
    const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger: pino({ level: 'silent' }) });
    await relay.runOnce();
    await relay.stop();
    expect((await broker.channel.checkQueue('deploy-step')).messageCount).toBe(1);
    expect((await broker.channel.checkQueue('outbox.unroutable')).messageCount).toBe(0);
  });

  it('refuses a queue declared with other settings, with a typed error', async () => {
    await broker.channel.assertQueue('classic-already', { durable: true });
    const result = await setup('classic-already');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('OUTBOX_TOPOLOGY_CONFLICT');
    expect(result.stderr).toContain('classic-already');
    expect(result.stderr).not.toContain('    at ');
  });

  it('says the outbox tables are missing, and what to run', async () => {
    const result = await setup('no-tables', { DATABASE_URL: databaseUrl(emptyDatabase) });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/OUTBOX_TABLES_MISSING: .*npx outbox init.*npx outbox migrate/);
  });
});
