// Batched consumers (`batchSize`): a group of waiting deliveries in one transaction,
// and every guarantee of one-by-one handling kept: one effect per message, a poison
// message failing alone, attempts counted per message, malformed deliveries and
// duplicates within a group.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createWorker, defineConsumer, NonRetryableError, OutboxError, type ConsumerDefinition, type DeadLetter, type Worker } from '../../src/index.js';
import type { SettledDelivery } from '../../src/consumers/runDelivery.js';
import { testEvents } from '../support/events.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];
type Consumer = ConsumerDefinition<typeof testEvents, Tx>;

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const workers: Worker[] = [];
let consumerCount = 0;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('batched')]);
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

/**
 * Declares the consumer's queues (a worker started and stopped), publishes `publish()`'s
 * messages into them, then starts the worker: the deliveries wait together, so the
 * first groups are full.
 */
/** What the worker reported for each settled delivery (the summary's and the metrics' source). */
let settled: SettledDelivery[] = [];

async function runOverBacklog(consumer: Consumer, publish: () => string[], onDeadLetter?: (letter: DeadLetter) => void): Promise<string[]> {
  const hooks = onDeadLetter ? { onDeadLetter } : {};
  const worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers: [consumer], logger, ...hooks });
  workers.push(worker);
  settled = [];
  worker.on('delivery:settled', (delivery) => settled.push(delivery));
  await worker.start();
  await worker.stop();
  const messageIds = publish();
  await eventually(async () => (await broker.channel.checkQueue(consumer.name)).messageCount === messageIds.length, 10_000, 'the backlog in the queue');
  await worker.start();
  return messageIds;
}

const publishMany = (count: number) => () => Array.from({ length: count }, (_, index) => publishRaw(broker.channel, { type: 'test.anything', payload: index }));

async function effects(messageIds: readonly string[]): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ messageId: string; count: number }>(
    'SELECT message_id::text AS "messageId", count(*)::int AS count FROM demo_signup_log WHERE message_id = ANY($1::uuid[]) GROUP BY 1',
    [messageIds],
  );
  return Object.fromEntries(rows.map((row) => [row.messageId, row.count]));
}
const oncePerMessage = (messageIds: readonly string[]) => Object.fromEntries(messageIds.map((id) => [id, 1]));

async function inboxRows(consumer: string) {
  const { rows } = await db.pool.query<{ messageId: string; status: string; attempts: number }>(
    'SELECT message_id::text AS "messageId", status::text, attempts FROM outbox_inbox WHERE consumer = $1 ORDER BY message_id',
    [consumer],
  );
  return rows;
}

const recordEffect = (tx: Tx, messageId: string) => tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
const transactionId = async (tx: Tx) => (await tx.$queryRaw<[{ id: string }]>`SELECT txid_current()::text AS id`)[0].id;

describe('a batched consumer', () => {
  it('handles waiting deliveries in groups of up to batchSize, one transaction each, each message once', async () => {
    const name = uniqueName('batched');
    const transactionOf = new Map<string, string>();
    const startedAt = performance.now();
    const messageIds = await runOverBacklog(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        batchSize: 10,
        async handle({ tx, messageId }) {
          transactionOf.set(messageId, await transactionId(tx));
          await recordEffect(tx, messageId);
        },
      }),
      publishMany(40),
    );
    await eventually(async () => (await inboxRows(name)).length === 40, 15_000, 'all forty done');
    expect(await effects(messageIds)).toEqual(oncePerMessage(messageIds));
    expect((await inboxRows(name)).every((row) => row.status === 'done' && row.attempts === 1)).toBe(true);
    const perTransaction = new Map<string, number>();
    for (const id of transactionOf.values()) perTransaction.set(id, (perTransaction.get(id) ?? 0) + 1);
    const groupSizes = [...perTransaction.values()];
    expect(Math.max(...groupSizes)).toBe(10);
    expect(groupSizes.length).toBeLessThan(40);
    await eventually(async () => (await broker.channel.checkQueue(name)).messageCount === 0, 5000, 'all acked');
    // Each delivery reported once, as handled, with its share of its group's time (not the
    // group's whole time each, which would add up to about ten times the drain).
    expect(settled.filter((delivery) => delivery.outcome === 'handled' && delivery.handlerRan)).toHaveLength(40);
    const reportedMs = settled.reduce((sum, delivery) => sum + (delivery.durationMs ?? 0), 0);
    expect(reportedMs).toBeLessThan(performance.now() - startedAt);
  });

  it('a poison message in a group fails alone: it is dead-lettered, its neighbours are done once each', async () => {
    const name = uniqueName('batched-poison');
    const letters: DeadLetter[] = [];
    const runs = new Map<string, number>();
    let poison = '';
    const messageIds = await runOverBacklog(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        batchSize: 10,
        async handle({ tx, messageId, event }) {
          runs.set(messageId, (runs.get(messageId) ?? 0) + 1);
          await recordEffect(tx, messageId);
          if (event.payload === 3) throw new NonRetryableError('poison');
        },
      }),
      () => {
        const ids = publishMany(6)();
        poison = ids[3]!;
        return ids;
      },
      (letter) => letters.push(letter),
    );
    await eventually(() => letters.length === 1, 15_000, 'the dead letter');
    const neighbours = messageIds.filter((id) => id !== poison);
    await eventually(async () => (await inboxRows(name)).filter((row) => row.status === 'done').length === 5, 10_000, 'the neighbours done');
    expect(letters[0]).toMatchObject({ messageId: poison, reason: 'non-retryable', attempts: 1 });
    expect(await effects(messageIds)).toEqual(oncePerMessage(neighbours));
    // The group ran, rolled back, then each ran alone: the neighbours' writes of the group were undone.
    expect(Math.max(...runs.values())).toBeLessThanOrEqual(2);
    const [dead] = await takeAll(broker.channel, `${name}.dlq`);
    expect(dead!.properties.messageId).toBe(poison);
    expect((await inboxRows(name)).find((row) => row.messageId === poison)).toMatchObject({ status: 'dead', attempts: 1 });
  });

  it('counts attempts per message: one failing twice in a group is retried alone and done on its third attempt', async () => {
    const name = uniqueName('batched-retry');
    const attempts: number[] = [];
    const messageIds = await runOverBacklog(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        batchSize: 5,
        retryDelays: [50],
        async handle({ tx, messageId, event, attempt }) {
          if (event.payload === 2) {
            attempts.push(attempt);
            if (attempt < 3) throw new Error(`flaky ${attempt}`);
          }
          await recordEffect(tx, messageId);
        },
      }),
      publishMany(5),
    );
    await eventually(async () => (await inboxRows(name)).filter((row) => row.status === 'done').length === 5, 20_000, 'all five done');
    expect(await effects(messageIds)).toEqual(oncePerMessage(messageIds));
    // Attempt 1 ran in the group and again alone (the group's run is not counted), then 2 and 3.
    expect(attempts.filter((attempt) => attempt > 1)).toEqual([2, 3]);
    const flaky = (await inboxRows(name)).find((row) => row.messageId === messageIds[2]);
    expect(flaky).toMatchObject({ status: 'done', attempts: 3 });
  });

  it('a malformed delivery and a second copy of a message in the group get their own verdicts', async () => {
    const name = uniqueName('batched-mixed');
    const letters: DeadLetter[] = [];
    const repeated = randomUUID();
    const messageIds = await runOverBacklog(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        batchSize: 10,
        handle: ({ tx, messageId }) => recordEffect(tx, messageId).then(() => {}),
      }),
      () => [
        publishRaw(broker.channel, { type: 'test.anything', payload: 'a' }),
        publishRaw(broker.channel, { type: 'test.anything', payload: 'b', messageId: repeated }),
        publishRaw(broker.channel, { type: 'test.anything', body: Buffer.from('{not json') }),
        publishRaw(broker.channel, { type: 'test.anything', payload: 'b again', messageId: repeated }),
        publishRaw(broker.channel, { type: 'test.anything', payload: 'c' }),
      ],
      (letter) => letters.push(letter),
    );
    const [first, , malformed, , last] = messageIds;
    await eventually(() => letters.length === 1, 15_000, 'the malformed one dead-lettered');
    expect(letters[0]).toMatchObject({ messageId: malformed, reason: 'malformed' });
    await eventually(async () => (await broker.channel.checkQueue(name)).messageCount === 0, 10_000, 'all settled');
    expect(await effects([first!, repeated, last!])).toEqual(oncePerMessage([first!, repeated, last!]));
  });

  it(
    'a group stuck past the delivery deadline is handed back whole; its late commit and the redeliveries make one effect each',
    { timeout: 60_000 },
    async () => {
      const name = uniqueName('batched-stuck');
      const LOCK = 4343;
      const holder = await db.pool.connect();
      try {
        await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
        const worker = createWorker({
          prisma: db.prisma,
          amqpUrl: broker.url,
          events: testEvents,
          logger,
          deliveryTimeoutMs: 1_000,
          transactionTimeoutMs: 20_000,
          consumers: [
            defineConsumer<typeof testEvents, Tx>({
              name,
              events: ['test.anything'],
              batchSize: 10,
              retryDelays: [300],
              async handle({ tx, messageId, event }) {
                if (event.payload === 1) await tx.$queryRaw`SELECT pg_advisory_xact_lock(${LOCK})::text`;
                await recordEffect(tx, messageId);
              },
            }),
          ],
        });
        workers.push(worker);
        await worker.start();
        await worker.stop();
        const messageIds = publishMany(4)();
        await eventually(async () => (await broker.channel.checkQueue(name)).messageCount === 4, 10_000, 'the backlog in the queue');
        await worker.start();
        await eventually(() => worker.health().checks.deliveries?.ok === false, 10_000, 'the group reported stuck');
        // Every delivery of the group is handed back and reported, not only the one that waits.
        const stuckCount = () => Number(/^(\d+) delivery/.exec(worker.health().checks.deliveries?.detail ?? '')?.[1] ?? 0);
        await eventually(() => stuckCount() >= 4, 10_000, 'all four reported stuck');
        expect(await effects(messageIds)).toEqual({});

        await holder.query('SELECT pg_advisory_unlock($1)', [LOCK]);
        await eventually(async () => Object.keys(await effects(messageIds)).length === 4, 15_000, 'the late commit');
        await eventually(() => worker.health().healthy, 10_000, 'healthy again');
        await eventually(async () => (await broker.channel.checkQueue(name)).messageCount === 0, 10_000, 'the redeliveries settled');
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect(await effects(messageIds)).toEqual(oncePerMessage(messageIds));
        expect((await broker.channel.checkQueue(`${name}.dlq`)).messageCount).toBe(0);
      } finally {
        holder.release();
      }
    },
  );

  it('is refused for an ordered consumer', () => {
    expect(() =>
      defineConsumer<typeof testEvents, Tx>({ name: 'ordered-batched', events: ['test.anything'], ordered: true, batchSize: 5, handle: async () => {} }),
    ).toThrow(OutboxError);
    expect(() =>
      defineConsumer<typeof testEvents, Tx>({ name: 'ordered-batched', events: ['test.anything'], ordered: true, batchSize: 5, handle: async () => {} }),
    ).toThrow(/batchSize is not available for ordered consumers/);
  });
});
