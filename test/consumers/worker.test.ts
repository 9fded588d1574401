import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  createOutbox,
  createRelay,
  createWorker,
  defineConsumer,
  NonRetryableError,
  type ConsumerDefinition,
  type DeadLetter,
  type Worker,
} from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const workers: Worker[] = [];
let consumerCount = 0;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('worker')]);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

/** A consumer name of its own per test: its queues start empty. */
function uniqueName(label: string): string {
  consumerCount += 1;
  return `${label}-${consumerCount}`;
}

async function startWorker(consumer: ConsumerDefinition<typeof testEvents, Tx>, extra: { onDeadLetter?: (letter: DeadLetter) => void } = {}): Promise<Worker> {
  const worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers: [consumer], logger, ...extra });
  workers.push(worker);
  await worker.start();
  return worker;
}

/** The side effect of the test consumers: a row per handled message. */
async function effects(messageId: string): Promise<number> {
  const { rows } = await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM demo_signup_log WHERE message_id = $1', [messageId]);
  return rows[0]!.count;
}

async function inbox(consumer: string, messageId: string) {
  const { rows } = await db.pool.query('SELECT status::text, attempts, last_error FROM outbox_inbox WHERE consumer = $1 AND message_id = $2', [
    consumer,
    messageId,
  ]);
  return rows[0];
}

const recordSignup = (tx: Tx, messageId: string, userId: string) => tx.signupLog.create({ data: { userId, messageId } });

describe('a worker', () => {
  it('handles an event end to end: outbox, relay, worker; one effect, inbox done, acked', async () => {
    const name = uniqueName('log-signup');
    const seen: unknown[] = [];
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['user.*'],
        async handle({ event, tx, messageId, attempt, idempotencyKey, correlationId }) {
          seen.push({ type: event.type, version: event.version, payload: event.payload, attempt, idempotencyKey, correlationId });
          await recordSignup(tx, messageId, randomUUID());
        },
      }),
    );
    const outbox = createOutbox({ events: testEvents });
    const messageId = await db.prisma.$transaction((tx) => outbox.publish(tx, 'user.signed-up', { userId: 'u-1' }, { correlationId: 'req-9' }));
    const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger });
    await relay.runOnce();
    await relay.stop();

    await eventually(async () => (await effects(messageId)) === 1, 10_000, 'the effect');
    expect(seen).toEqual([
      {
        type: 'user.signed-up',
        version: 2,
        payload: { userId: 'u-1', plan: 'free' },
        attempt: 1,
        idempotencyKey: `${name}:${messageId}`,
        correlationId: 'req-9',
      },
    ]);
    await eventually(async () => (await inbox(name, messageId))?.status === 'done', 5000, 'inbox done');
    await eventually(async () => (await broker.channel.checkQueue(name)).messageCount === 0, 5000, 'the queue to drain');
  });

  it('runs the effect once for a message delivered several times, some at once, with concurrency > 1', async () => {
    const name = uniqueName('dedupe');
    const running = new Set<string>();
    let overlaps = 0;
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        concurrency: 4,
        async handle({ tx, messageId }) {
          if (running.has(messageId)) overlaps += 1;
          running.add(messageId);
          await new Promise((resolve) => setTimeout(resolve, 50));
          await recordSignup(tx, messageId, randomUUID());
          running.delete(messageId);
        },
      }),
    );
    const messageId = randomUUID();
    for (let copy = 0; copy < 5; copy += 1) publishRaw(broker.channel, { type: 'test.anything', payload: { copy }, messageId });
    const other = publishRaw(broker.channel, { type: 'test.anything', payload: 'other' });

    await eventually(async () => (await broker.channel.checkQueue(name)).messageCount === 0 && (await effects(other)) === 1, 10_000, 'all copies handled');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await effects(messageId)).toBe(1);
    expect(overlaps).toBe(0);
    expect(await inbox(name, messageId)).toMatchObject({ status: 'done' });
  });

  it('retries a flaky handler after the configured delays and succeeds on attempt 3', async () => {
    const name = uniqueName('flaky');
    const attempts: { attempt: number; at: number }[] = [];
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        retryDelays: [300, 600],
        async handle({ tx, messageId, attempt }) {
          attempts.push({ attempt, at: performance.now() });
          await recordSignup(tx, messageId, randomUUID());
          if (attempt < 3) throw new Error(`provider timeout #${attempt}`);
        },
      }),
    );
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 1 });
    await eventually(async () => (await effects(messageId)) === 1, 15_000, 'the third attempt');
    expect(attempts.map((entry) => entry.attempt)).toEqual([1, 2, 3]);
    // The delays are lower bounds (TTL in the retry queues).
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(280);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(580);
    expect(await inbox(name, messageId)).toMatchObject({ status: 'done', last_error: null });
    // The failed attempts' writes were rolled back with them: one effect.
    expect(await effects(messageId)).toBe(1);
  });

  it('dead-letters an always-failing message after maxAttempts: DLQ with the error, inbox dead, hook called once', async () => {
    const name = uniqueName('always-fails');
    const letters: DeadLetter[] = [];
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        maxAttempts: 3,
        retryDelays: [100],
        async handle() {
          throw new Error('template missing');
        },
        onDeadLetter: (letter) => {
          letters.push(letter);
        },
      }),
    );
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'doomed' });
    await eventually(async () => (await broker.channel.checkQueue(`${name}.dlq`)).messageCount === 1, 15_000, 'the dead letter');
    const [dead] = await takeAll(broker.channel, `${name}.dlq`);
    expect(dead!.properties.messageId).toBe(messageId);
    expect(dead!.properties.headers).toMatchObject({
      'outbox-dead-reason': 'handler-failed',
      'outbox-dead-error': 'Error: template missing',
      'outbox-dead-consumer': name,
      'outbox-attempt': 3,
    });
    expect(await inbox(name, messageId)).toMatchObject({ status: 'dead', attempts: 3, last_error: 'Error: template missing' });
    expect(letters).toEqual([
      { consumer: name, messageId, eventType: 'test.anything', attempts: 3, reason: 'handler-failed', error: 'Error: template missing' },
    ]);
  });

  it('dead-letters at once on NonRetryableError', async () => {
    const name = uniqueName('non-retryable');
    let calls = 0;
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        async handle() {
          calls += 1;
          throw new NonRetryableError('address rejected by the provider');
        },
      }),
    );
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'x' });
    await eventually(async () => (await broker.channel.checkQueue(`${name}.dlq`)).messageCount === 1, 10_000, 'the dead letter');
    expect(calls).toBe(1);
    expect(await inbox(name, messageId)).toMatchObject({ status: 'dead', attempts: 1 });
  });

  it('dead-letters malformed deliveries at once, each with its reason, and keeps working', async () => {
    const name = uniqueName('strict');
    const handled: string[] = [];
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['#'],
        async handle({ messageId }) {
          handled.push(messageId);
        },
      }),
    );
    const cases: [Parameters<typeof publishRaw>[1], string][] = [
      [{ type: 'test.anything', body: Buffer.from('{not json') }, 'not UTF-8 JSON'],
      [{ type: 'test.anything', body: Buffer.from([0xff, 0xfe, 0x7b, 0x7d]) }, 'not UTF-8 JSON'],
      [{ type: 'order.placed', payload: { orderId: 'nope' } }, 'fails the order.placed v1 schema'],
      [{ type: 'order.placed', payload: {}, version: 7 }, 'unknown version 7'],
      [{ type: 'billing.unknown', payload: {} }, 'unknown event type'],
      [{ type: 'test.anything', payload: {}, messageId: 'not-a-uuid' }, 'is not a UUID'],
      [{ type: 'test.anything', payload: {}, properties: { contentType: 'text/plain' } }, 'is not application/json'],
      [{ type: 'test.anything', payload: {}, properties: { headers: { 'outbox-event-version': 'two' } } }, 'not a positive integer'],
    ];
    for (const [event] of cases) publishRaw(broker.channel, event);
    const good = publishRaw(broker.channel, { type: 'test.anything', payload: 'fine' });

    await eventually(async () => (await broker.channel.checkQueue(`${name}.dlq`)).messageCount === cases.length, 10_000, 'every malformed message in the DLQ');
    const dead = await takeAll(broker.channel, `${name}.dlq`);
    const reasons = dead.map((message) => String(message.properties.headers?.['outbox-dead-error']));
    for (const [, reason] of cases)
      expect(
        reasons.some((text) => text.includes(reason)),
        reason,
      ).toBe(true);
    expect(dead.every((message) => message.properties.headers?.['outbox-dead-reason'] === 'malformed')).toBe(true);
    await eventually(() => handled.includes(good), 10_000, 'the good message after them');
    expect(handled).toEqual([good]);
  });

  it('works on classic queues too, retries included', async () => {
    const name = uniqueName('classic');
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        queueType: 'classic',
        retryDelays: [100],
        async handle({ tx, messageId, attempt }) {
          if (attempt === 1) throw new Error('first try fails');
          await recordSignup(tx, messageId, randomUUID());
        },
      }),
    );
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'classic' });
    await eventually(async () => (await effects(messageId)) === 1, 10_000, 'the retried message');
    expect(await inbox(name, messageId)).toMatchObject({ status: 'done', attempts: 2 });
  });

  it('refuses a consumer whose pattern matches no catalog event, or a bad definition', () => {
    const base = { prisma: db.prisma, amqpUrl: broker.url, events: testEvents, logger };
    const noMatch = { name: 'typo', events: ['order.plaed'], handle: async () => {} };
    expect(() => createWorker({ ...base, consumers: [noMatch as never] })).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_CONSUMER' }));
    expect(() => defineConsumer({ name: 'Bad Name', events: ['#'], handle: async () => {} })).toThrow(
      expect.objectContaining({ code: 'OUTBOX_INVALID_CONSUMER' }),
    );
    expect(() => defineConsumer({ name: 'ok', events: ['order..placed'], handle: async () => {} })).toThrow(
      expect.objectContaining({ code: 'OUTBOX_INVALID_CONSUMER' }),
    );
  });
});
