// Faults of the whole broker, while a relay runs: every connection closed, the
// app stopped and started, publishing blocked by a memory alarm. The relay must
// recover by itself and lose nothing. These run alone (the "faults" project):
// they touch every connection on the node.
import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../src/index.js';
import { rabbitmqctl, restoreBroker } from '../support/rabbitmqctl.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
import { publishedCount, seedPendingRows } from '../support/outboxRows.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
let watermark = '0.4';
let relay: Relay | undefined;
const TAP = 'tap.outage';

beforeAll(async () => {
  watermark = (await rabbitmqctl('eval', 'vm_memory_monitor:get_vm_memory_high_watermark().')).trim() || '0.4';
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('outage')]);
  await broker.channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
  await broker.channel.assertQueue(TAP, { durable: true });
  await broker.channel.bindQueue(TAP, 'outbox.events', '#');
});
afterAll(async () => {
  await relay?.stop();
  await restoreBroker(watermark);
  await broker?.delete();
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox_message');
});

/** Reads the tap queue on a fresh connection (the test's own may have been closed by the fault). */
async function deliveredIds(): Promise<string[]> {
  const connection = await amqp.connect(broker.url, { noDelay: true });
  try {
    const channel = await connection.createChannel();
    return (await takeAll(channel, TAP)).map((message) => message.properties.messageId as string);
  } finally {
    await connection.close();
  }
}

function startRelay(overrides: Partial<Parameters<typeof createRelay>[0]> = {}): Relay {
  relay = createRelay({
    databaseUrl: db.url,
    amqpUrl: broker.url,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    batchSize: 100,
    maxInFlight: 200,
    pollIntervalMs: 50,
    ...overrides,
  });
  return relay;
}

async function expectEveryRowDelivered(total: number): Promise<string[]> {
  await eventually(async () => (await publishedCount(db.pool)) === total, 90_000, 'every row published');
  await relay?.stop();
  relay = undefined;
  const ids = await deliveredIds();
  expect(new Set(ids).size).toBe(total);
  return ids;
}

describe('broker faults during a run', () => {
  it('rabbitmqctl close_all_connections: the relay reconnects and publishes everything', async () => {
    const total = 5000;
    await seedPendingRows(db.pool, total, { keyEvery: 4, keys: 20 });
    await startRelay().start();
    await eventually(async () => (await publishedCount(db.pool)) > 500, 30_000, 'the relay to get going');
    await rabbitmqctl('close_all_connections', 'outbox fault test');
    const ids = await expectEveryRowDelivered(total);
    expect(ids.length - total).toBeLessThanOrEqual(200);
  });

  it('rabbitmqctl stop_app / start_app: nothing lost, the relay recovers by itself', async () => {
    const total = 5000;
    await seedPendingRows(db.pool, total, { keyEvery: 4, keys: 20 });
    await startRelay().start();
    await eventually(async () => (await publishedCount(db.pool)) > 500, 30_000, 'the relay to get going');
    await rabbitmqctl('stop_app');
    const duringOutage = await publishedCount(db.pool);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // Nothing is marked published while the broker is away.
    expect(await publishedCount(db.pool)).toBe(duringOutage);
    await rabbitmqctl('start_app');
    await rabbitmqctl('await_startup');
    await expectEveryRowDelivered(total);
  });

  it('a memory alarm blocks publishing: confirms time out, rows are retried, all arrive once publishing resumes', async () => {
    const total = 1000;
    await seedPendingRows(db.pool, total, { keyEvery: 4, keys: 20 });
    const blocked = startRelay({ confirmTimeoutMs: 1500, initialBackoffMs: 200, maxBackoffMs: 1000 });
    let retried = 0;
    blocked.on('batch:published', (report) => {
      retried += report.retried;
    });
    await rabbitmqctl('set_vm_memory_high_watermark', '0.0000001');
    try {
      await blocked.start();
      await eventually(() => retried > 0, 30_000, 'a confirm timeout');
      expect(await publishedCount(db.pool)).toBeLessThan(total);
    } finally {
      await rabbitmqctl('set_vm_memory_high_watermark', watermark);
    }
    await expectEveryRowDelivered(total);
    const { rows } = await db.pool.query<{ retried: number }>('SELECT count(*)::int AS retried FROM outbox_message WHERE attempts > 1');
    expect(rows[0]!.retried).toBeGreaterThan(0);
  });
});
