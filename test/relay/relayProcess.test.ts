// The relay as a real process: killed with SIGKILL mid-run, stopped with SIGTERM,
// and its database connections cut. Nothing may be lost; duplicates only for what
// was in flight.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createRelay } from '../../src/index.js';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
import { publishedCount, seedPendingRows } from '../support/outboxRows.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const running: CliProcess[] = [];
const TAP = 'tap.process';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('relay-process')]);
});
afterAll(async () => {
  for (const cli of running) cli.child.kill('SIGKILL');
  await broker?.delete();
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox_message');
  await broker.channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
  await broker.channel.assertQueue(TAP, { durable: true });
  await broker.channel.purgeQueue(TAP);
  await broker.channel.bindQueue(TAP, 'outbox.events', '#');
});

function relayProcess(extraArgs: string[] = []): CliProcess {
  const cli = startOutboxCli(['relay', '--batch-size', '100', '--max-in-flight', '200', ...extraArgs], { DATABASE_URL: db.url, AMQP_URL: broker.url });
  running.push(cli);
  return cli;
}

async function finishWithInProcessRelay(): Promise<void> {
  const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger: pino({ level: 'silent' }) });
  await relay.runOnce();
  await relay.stop();
}

describe('relay process', () => {
  it('SIGKILL mid-run loses nothing; a second relay takes over; duplicates at most the in-flight window', async () => {
    const total = 6000;
    await seedPendingRows(db.pool, total);
    const victim = relayProcess();
    await eventually(async () => (await publishedCount(db.pool)) > 1000, 30_000, 'the relay to get going');
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    expect(await publishedCount(db.pool)).toBeLessThan(total);

    await finishWithInProcessRelay();
    expect(await publishedCount(db.pool)).toBe(total);
    const ids = (await takeAll(broker.channel, TAP)).map((message) => message.properties.messageId as string);
    const unique = new Set(ids);
    expect(unique.size).toBe(total);
    // Only what was published but not yet marked can arrive twice: at most max-in-flight.
    expect(ids.length - unique.size).toBeLessThanOrEqual(200);
  });

  it('SIGTERM finishes the batches in flight and exits 0: no duplicate at all', async () => {
    const total = 6000;
    await seedPendingRows(db.pool, total);
    const relay = relayProcess();
    await eventually(async () => (await publishedCount(db.pool)) > 1000, 30_000, 'the relay to get going');
    relay.child.kill('SIGTERM');
    const exit = await relay.exited;
    expect(exit, relay.output()).toEqual({ code: 0, signal: null });
    expect(relay.output()).toContain('relay stopped');

    await finishWithInProcessRelay();
    const ids = (await takeAll(broker.channel, TAP)).map((message) => message.properties.messageId as string);
    expect(ids.length).toBe(total);
    expect(new Set(ids).size).toBe(total);
  });

  it('comes back by itself after its database connections are cut', { timeout: 90_000 }, async () => {
    const total = 3000;
    await seedPendingRows(db.pool, total);
    const relay = relayProcess(['--poll-interval', '50ms']);
    await eventually(async () => (await publishedCount(db.pool)) > 300, 30_000, 'the relay to get going');
    await db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'outbox-relay'", [db.name]);
    await eventually(async () => (await publishedCount(db.pool)) === total, 40_000, 'every row published after the cut').catch((error: Error) => {
      throw new Error(`${error.message}\n${relay.output()}`);
    });
    relay.child.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);
    const ids = new Set((await takeAll(broker.channel, TAP)).map((message) => message.properties.messageId as string));
    expect(ids.size).toBe(total);
    // One warning for the outage and one line for the recovery, not one per retry.
    expect(relay.output().match(/relay batch failed/g)?.length ?? 0).toBeLessThanOrEqual(2);
  });
});
