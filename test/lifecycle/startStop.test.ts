// The start/stop contract at the seams, against the real servers: a stop during a
// start that waits for a broker, a one-off run while the broker is away, a stopped
// reconciler used again, a channel reopened into a refusal.
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BrokerConnection } from '../../src/broker/brokerConnection.js';
import { createOutbox, createReconciler, createRelay, createWorker, defineConsumer, isOutboxError } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { runOutboxCli } from '../support/runOutboxCli.js';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const outbox = createOutbox({ events: testEvents });
const noop = defineConsumer<typeof testEvents, Tx>({ name: 'lifecycle-noop', events: ['user.*'], async handle() {} });

/** A TCP port that accepts and at once drops every connection (a broker that never answers AMQP), counting the attempts. */
async function droppingPort(): Promise<{ url: string; attempts: () => number; close(): Promise<void> }> {
  let attempts = 0;
  const server = net.createServer((socket) => {
    attempts += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}/`,
    attempts: () => attempts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('lifecycle')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

describe('worker start and stop', () => {
  it('stop() while start() waits for an unreachable broker: start gives up, stop resolves, no connection is tried afterwards', async () => {
    const down = await droppingPort();
    try {
      const worker = createWorker({ prisma: db.prisma, amqpUrl: down.url, events: testEvents, consumers: [noop], logger });
      const first = worker.start();
      const second = worker.start();
      expect(second).toBe(first);
      first.catch(() => {});
      // Long enough for the database registration and a few broker attempts.
      for (let waited = 0; down.attempts() < 2 && waited < 10_000; waited += 50) await settle(50);
      expect(down.attempts()).toBeGreaterThanOrEqual(2);
      await worker.stop();
      await expect(first).rejects.toThrow();
      const after = down.attempts();
      await settle(1_500);
      expect(down.attempts()).toBe(after);
      expect(worker.health().healthy).toBe(false);
    } finally {
      await down.close();
    }
  });

  it('starts again after a stop, and stop() twice is one stop', async () => {
    const worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers: [noop], logger });
    await worker.start();
    await Promise.all([worker.stop(), worker.stop()]);
    await worker.start();
    expect(worker.health().healthy).toBe(true);
    await worker.stop();
    await worker.stop();
    expect(worker.health().healthy).toBe(false);
  });
});

describe('relay.runOnce while the broker is away', () => {
  it('rejects with OUTBOX_BROKER_UNREACHABLE after brokerWaitMs instead of waiting forever', async () => {
    const down = await droppingPort();
    const relay = createRelay({ databaseUrl: db.url, amqpUrl: down.url, brokerWaitMs: 1_500, logger });
    try {
      const started = performance.now();
      const error: unknown = await relay.runOnce().catch((failure: unknown) => failure);
      expect(isOutboxError(error, 'OUTBOX_BROKER_UNREACHABLE')).toBe(true);
      expect((error as Error).message).toMatch(/not reachable within 2 s/);
      expect(performance.now() - started).toBeLessThan(10_000);
    } finally {
      await relay.stop();
      await down.close();
    }
  });

  it("rejects with the signal's reason when aborted, publishing nothing more", async () => {
    const down = await droppingPort();
    const relay = createRelay({ databaseUrl: db.url, amqpUrl: down.url, logger });
    try {
      const controller = new AbortController();
      const running = relay.runOnce({ signal: controller.signal });
      setTimeout(() => controller.abort(new Error('the cron job is out of time')), 300);
      await expect(running).rejects.toThrow('the cron job is out of time');
    } finally {
      await relay.stop();
      await down.close();
    }
  });

  it('outbox relay --once exits 1 with the typed error, no stack, once --broker-wait has passed', async () => {
    const down = await droppingPort();
    try {
      await db.prisma.$transaction((tx) => outbox.publish(tx, 'user.signed-up', { userId: randomUUID() }));
      const result = await runOutboxCli(['relay', '--once', '--broker-wait', '2s'], { DATABASE_URL: db.url, AMQP_URL: down.url, LOG_LEVEL: 'warn' });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('OUTBOX_BROKER_UNREACHABLE');
      expect(result.stderr).not.toContain('guest:guest');
      const { rows } = await db.pool.query(`SELECT count(*)::int AS pending FROM outbox_message WHERE status = 'pending'`);
      expect(rows[0].pending).toBeGreaterThan(0);
    } finally {
      await down.close();
    }
  });
});

describe('reconciler stop', () => {
  it('stop() twice is one stop; runOnce() after stop() runs again on fresh pools', async () => {
    const reconciler = createReconciler({ databaseUrl: db.url, amqpUrl: broker.url, events: testEvents, consumers: [noop], graceMs: 0, logger });
    await reconciler.start();
    expect((await reconciler.runOnce()).status).toBe('done');
    await Promise.all([reconciler.stop(), reconciler.stop()]);
    await reconciler.stop();
    const report = await reconciler.runOnce();
    expect(report.status).toBe('done');
    await reconciler.stop();
  });
});

describe('reconciler.runOnce with a signal', () => {
  it('an aborted signal ends the run with its reason; the next run goes on as usual', async () => {
    const reconciler = createReconciler({ databaseUrl: db.url, amqpUrl: broker.url, events: testEvents, consumers: [noop], graceMs: 0, logger });
    try {
      await expect(reconciler.runOnce({ signal: AbortSignal.abort(new Error('the cron job is out of time')) })).rejects.toThrow('the cron job is out of time');
      expect((await reconciler.runOnce()).status).toBe('done');
    } finally {
      await reconciler.stop();
    }
  });
});

describe('the broker connection', () => {
  it('a channel discarded while its replacement fails to open leaves no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    let refuse = false;
    const connection = new BrokerConnection({
      urls: [broker.url],
      logger,
      connectionName: 'lifecycle-test',
      setupChannel: async () => {
        if (refuse) throw new Error('topology refused');
      },
    });
    try {
      const channel = await connection.confirmChannel();
      refuse = true;
      await channel.close();
      await settle(50); // its 'close' handler lets go of it
      const reopening = connection.confirmChannel();
      connection.discardChannel(channel);
      await expect(reopening).rejects.toThrow('topology refused');
      await settle(200);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await connection.close();
    }
  });
});
