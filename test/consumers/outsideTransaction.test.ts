// Handlers outside the transaction (outsideTransaction): a slow external call holds no
// database connection; the attempt is recorded before it, the effect and "done" after it.
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { PrismaClient } from '../../generated/prisma/client.js';
import { createWorker, defineConsumer, OutboxError, outsideTransaction, type ConsumerDefinition, type Worker, type WorkerOptions } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { captureLogs } from '../support/captureLogs.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const workers: Worker[] = [];
let consumerCount = 0;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('outside')]);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

function uniqueName(label: string): string {
  consumerCount += 1;
  return `${label}-${consumerCount}`;
}

async function startWorker(
  consumer: ConsumerDefinition<typeof testEvents, Tx>,
  prisma: WorkerOptions['prisma'] = db.prisma,
  workerLogger = logger,
): Promise<void> {
  const worker = createWorker({ prisma, amqpUrl: broker.url, events: testEvents, consumers: [consumer], logger: workerLogger });
  workers.push(worker);
  await worker.start();
}

const recordEffect = (tx: Tx, messageId: string) => tx.signupLog.create({ data: { userId: randomUUID(), messageId } }).then(() => {});
async function effects(messageId: string): Promise<number> {
  const { rows } = await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM demo_signup_log WHERE message_id = $1', [messageId]);
  return rows[0]!.count;
}
async function inbox(consumer: string, messageId: string) {
  const { rows } = await db.pool.query('SELECT status::text, attempts, last_error FROM outbox_inbox WHERE consumer = $1 AND message_id = $2', [
    consumer,
    messageId,
  ]);
  return rows[0] as { status: string; attempts: number; last_error: string | null } | undefined;
}

describe('a handler outside the transaction', () => {
  it('holds no transaction during the call: with a pool of 2, six slow calls run at once', async () => {
    const name = uniqueName('outside-pool');
    const smallPool = new pg.Pool({ connectionString: db.url, max: 2 });
    smallPool.on('error', () => {});
    const prisma = new PrismaClient({ adapter: new PrismaPg(smallPool) });
    let calling = 0;
    let mostAtOnce = 0;
    let openTransactionsDuringCalls = 0;
    try {
      await startWorker(
        defineConsumer<typeof testEvents, Tx>({
          name,
          events: ['test.anything'],
          concurrency: 6,
          handle: outsideTransaction(async ({ messageId, complete }) => {
            calling += 1;
            mostAtOnce = Math.max(mostAtOnce, calling);
            const { rows } = await db.pool.query<{ count: number }>(
              "SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            );
            openTransactionsDuringCalls = Math.max(openTransactionsDuringCalls, rows[0]!.count);
            await new Promise((resolve) => setTimeout(resolve, 400));
            calling -= 1;
            await complete((tx) => recordEffect(tx, messageId));
          }),
        }),
        prisma,
      );
      const messageIds = Array.from({ length: 6 }, (_, index) => publishRaw(broker.channel, { type: 'test.anything', payload: index }));
      await eventually(async () => (await Promise.all(messageIds.map(effects))).every((count) => count === 1), 15_000, 'six effects');
      expect(mostAtOnce).toBe(6);
      expect(openTransactionsDuringCalls).toBe(0);
      for (const messageId of messageIds) expect(await inbox(name, messageId)).toMatchObject({ status: 'done', attempts: 1 });
    } finally {
      await Promise.all(workers.splice(0).map((worker) => worker.stop()));
      await prisma.$disconnect();
      await smallPool.end();
    }
  });

  it('records the attempt before the call; a failed call is retried with the same idempotency key and done once', async () => {
    const name = uniqueName('outside-retry');
    const seen: { attempt: number; key: string; inboxDuringCall: unknown }[] = [];
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        retryDelays: [50],
        handle: outsideTransaction(async ({ messageId, attempt, idempotencyKey, complete }) => {
          seen.push({ attempt, key: idempotencyKey, inboxDuringCall: await inbox(name, messageId) });
          if (attempt === 1) throw new Error('provider timed out');
          await complete((tx) => recordEffect(tx, messageId));
        }),
      }),
    );
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'x' });
    await eventually(async () => (await inbox(name, messageId))?.status === 'done', 15_000, 'done');
    expect(seen).toEqual([
      { attempt: 1, key: `${name}:${messageId}`, inboxDuringCall: { status: 'processing', attempts: 1, last_error: null } },
      { attempt: 2, key: `${name}:${messageId}`, inboxDuringCall: { status: 'processing', attempts: 2, last_error: 'Error: provider timed out' } },
    ]);
    expect(await inbox(name, messageId)).toEqual({ status: 'done', attempts: 2, last_error: null });
    expect(await effects(messageId)).toBe(1);
  });

  it('a duplicate of a done message is skipped before the call; a handler that never calls complete() is done anyway', async () => {
    const name = uniqueName('outside-duplicate');
    let calls = 0;
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        handle: outsideTransaction(async () => {
          calls += 1;
        }),
      }),
    );
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'x' });
    await eventually(async () => (await inbox(name, messageId))?.status === 'done', 15_000, 'done');
    publishRaw(broker.channel, { type: 'test.anything', payload: 'x', messageId });
    await eventually(async () => (await broker.channel.checkQueue(name)).messageCount === 0, 10_000, 'the duplicate settled');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls).toBe(1);
  });

  it('a throw after complete() leaves the message done, not retried; complete() twice is an error', async () => {
    const name = uniqueName('outside-after');
    const attempts: number[] = [];
    const logs = captureLogs('warn');
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        retryDelays: [50],
        handle: outsideTransaction(async ({ messageId, attempt, complete }) => {
          attempts.push(attempt);
          await complete((tx) => recordEffect(tx, messageId));
          await complete();
        }),
      }),
      db.prisma,
      logs.logger,
    );
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'x' });
    await eventually(async () => (await inbox(name, messageId))?.status === 'done', 15_000, 'done');
    await eventually(async () => (await broker.channel.checkQueue(name)).messageCount === 0, 10_000, 'acked');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(attempts).toEqual([1]);
    expect(await effects(messageId)).toBe(1);
    const [warning] = logs.lines.filter((line) => line.msg === 'handler threw after complete(); the message is done');
    expect(warning).toMatchObject({ messageId, consumer: name, err: { message: `complete() was called twice for message ${messageId}` } });
  });

  it('called directly (a unit test of the handler), complete() runs its work in the given tx', async () => {
    const consumer = defineConsumer<typeof testEvents, Tx>({
      name: 'outside-direct',
      events: ['test.anything'],
      handle: outsideTransaction(async ({ messageId, complete }) => {
        expect(await complete((tx) => recordEffect(tx, messageId))).toBe(true);
      }),
    });
    const messageId = randomUUID();
    await db.prisma.$transaction((tx) =>
      consumer.handle({
        event: { type: 'test.anything', version: 1, payload: null },
        tx,
        messageId,
        attempt: 1,
        idempotencyKey: `outside-direct:${messageId}`,
        correlationId: undefined,
        logger,
      }),
    );
    expect(await effects(messageId)).toBe(1);
  });

  it('is refused for ordered and batched consumers', () => {
    const handle = outsideTransaction(async () => {});
    for (const extra of [{ ordered: true }, { batchSize: 10 }]) {
      expect(() => defineConsumer<typeof testEvents, Tx>({ name: 'outside-refused', events: ['test.anything'], handle, ...extra })).toThrow(OutboxError);
      expect(() => defineConsumer<typeof testEvents, Tx>({ name: 'outside-refused', events: ['test.anything'], handle, ...extra })).toThrow(
        /outsideTransaction\) is not available for ordered or batched consumers/,
      );
    }
  });
});
