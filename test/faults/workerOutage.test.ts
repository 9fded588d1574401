// The broker closes the worker's connection mid-stream: the worker reconnects,
// re-declares, resumes; every message gets exactly one effect.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, defineConsumer, type Worker } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { publishRaw } from '../support/publishRaw.js';
import { rabbitmqctl, restoreBroker } from '../support/rabbitmqctl.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
let worker: Worker | undefined;
let watermark = '0.4';

beforeAll(async () => {
  watermark = (await rabbitmqctl('eval', 'vm_memory_monitor:get_vm_memory_high_watermark().')).trim() || '0.4';
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('worker-outage')]);
});
afterAll(async () => {
  await worker?.stop();
  await restoreBroker(watermark);
  await broker?.delete();
  await db?.drop();
});

async function effectCounts(): Promise<{ rows: number; messages: number }> {
  const { rows } = await db.pool.query<{ rows: number; messages: number }>(
    'SELECT count(*)::int AS rows, count(DISTINCT message_id)::int AS messages FROM demo_signup_log',
  );
  return rows[0]!;
}

describe('worker under broker faults', () => {
  it('rabbitmqctl close_all_connections mid-stream: recovers alone, every message handled once', async () => {
    worker = createWorker({
      prisma: db.prisma,
      amqpUrl: broker.url,
      events: testEvents,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      consumers: [
        defineConsumer<typeof testEvents, Tx>({
          name: 'log-everything',
          events: ['test.anything'],
          concurrency: 4,
          async handle({ tx, messageId }) {
            await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
          },
        }),
      ],
    });
    await worker.start();
    const total = 2000;
    const publisher = await broker.connection.createConfirmChannel();
    for (let index = 0; index < total; index += 1) publishRaw(publisher, { type: 'test.anything', payload: index });
    await publisher.waitForConfirms();
    await publisher.close();

    await eventually(async () => (await effectCounts()).messages > 200, 30_000, 'the worker to get going');
    await rabbitmqctl('close_all_connections', 'outbox worker fault test');
    await eventually(async () => (await effectCounts()).messages === total, 60_000, 'every message handled after the reconnect');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await effectCounts()).toEqual({ rows: total, messages: total });
  });
});
