// What a worker says at info and at debug: per-delivery lines are debug (with the
// message's ids), a periodic info summary per consumer carries the counts and the
// handler percentiles, and a failing handler's error keeps type, stack and cause.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, defineConsumer, NonRetryableError, type Worker } from '../../src/index.js';
import { captureLogs, LEVEL, sumOf, type LogLine } from '../support/captureLogs.js';
import { testEvents } from '../support/events.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
let worker: Worker | undefined;
const CONSUMER = 'summary-worker';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('worker-summary')]);
});
afterAll(async () => {
  await worker?.stop();
  await broker?.delete();
  await db?.drop();
});

const consumer = defineConsumer<typeof testEvents, Tx>({
  name: CONSUMER,
  events: ['test.anything'],
  retryDelays: [50],
  maxAttempts: 3,
  async handle({ event, tx, messageId, attempt }) {
    if (event.payload === 'flaky' && attempt === 1) throw new Error('flaky handler failed', { cause: new TypeError('upstream said no') });
    if (event.payload === 'poison') throw new NonRetryableError('poison payload refused');
    await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
  },
});

const summaries = (lines: LogLine[]) => lines.filter((line) => line.msg === 'consumer summary');
const total = (lines: LogLine[], field: string) => sumOf(lines, 'consumer summary', field);

describe('worker logging', () => {
  const { logger, lines } = captureLogs('debug');

  it('summarises per consumer at info, logs each delivery at debug only, and logs a handler error with type, stack and cause', async () => {
    worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers: [consumer], logger, summaryIntervalMs: 100 });
    await worker.start();
    const twice = randomUUID();
    for (let index = 0; index < 4; index += 1) publishRaw(broker.channel, { type: 'test.anything', payload: `ok-${index}` });
    publishRaw(broker.channel, { type: 'test.anything', payload: 'ok-twice', messageId: twice });
    publishRaw(broker.channel, { type: 'test.anything', payload: 'ok-twice', messageId: twice });
    const flaky = publishRaw(broker.channel, { type: 'test.anything', payload: 'flaky' });
    const poison = publishRaw(broker.channel, { type: 'test.anything', payload: 'poison' });

    await eventually(
      () => total(lines, 'handled') === 6 && total(lines, 'duplicates') === 1 && total(lines, 'retried') === 1 && total(lines, 'deadLettered') === 1,
      30_000,
      `the summaries to add up:\n${summaries(lines)
        .map((line) => JSON.stringify(line))
        .join('\n')}`,
    );
    await worker.stop();
    worker = undefined;

    // The summaries: one consumer, the right totals (the last one written at stop), percentiles.
    const written = summaries(lines);
    expect(written.every((line) => line.level === LEVEL.info && line.consumer === CONSUMER && line.component === 'worker')).toBe(true);
    expect({
      handled: total(lines, 'handled'),
      duplicates: total(lines, 'duplicates'),
      retried: total(lines, 'retried'),
      deadLettered: total(lines, 'deadLettered'),
    }).toEqual({
      handled: 6,
      duplicates: 1,
      retried: 1,
      deadLettered: 1,
    });
    expect(total(lines, 'deferred') + total(lines, 'handedBack')).toBe(0);
    for (const line of written.filter((each) => Number(each.handled) > 0)) {
      expect(line.handlerP50Ms).toEqual(expect.any(Number));
      expect(line.handlerP99Ms as number).toBeGreaterThanOrEqual(line.handlerP50Ms as number);
      expect(line.sinceMs).toEqual(expect.any(Number));
    }

    // Per delivery: debug, with the message's ids; nothing per delivery at info.
    const received = lines.filter((line) => line.msg === 'delivery received');
    expect(received).toHaveLength(9); // 8 published, the flaky one twice
    expect(
      received.every(
        (line) => line.level === LEVEL.debug && typeof line.messageId === 'string' && line.eventType === 'test.anything' && line.consumer === CONSUMER,
      ),
    ).toBe(true);
    const finished = lines.filter((line) => line.msg === 'work finished');
    expect(finished).toHaveLength(6);
    expect(finished.every((line) => line.level === LEVEL.debug && typeof line.durationMs === 'number' && line.durationMs >= 0)).toBe(true);
    expect(lines.filter((line) => line.level === LEVEL.info && line.messageId !== undefined)).toEqual([]);
    expect(new Set(lines.filter((line) => line.level === LEVEL.info).map((line) => line.msg))).toEqual(
      new Set(['broker connected', 'consuming', 'consumer summary', 'worker stopped']),
    );

    // The handler's error: type, message, a real stack and the cause, on the retry line...
    const retry = lines.find((line) => line.msg === 'work failed; retrying after a delay' && line.messageId === flaky)!;
    expect(retry.level).toBe(LEVEL.warn);
    const err = retry.err as { type: string; message: string; stack: string; cause: { type: string; message: string; stack: string } };
    expect(err).toMatchObject({ type: 'Error', message: 'flaky handler failed', cause: { type: 'TypeError', message: 'upstream said no' } });
    expect(err.stack).toMatch(/^Error: flaky handler failed\n\s+at /);
    expect(err.stack).toContain('workerSummary.test.ts');
    expect(err.cause.stack).toMatch(/^TypeError: upstream said no\n\s+at /);
    // ... and on the dead-letter line.
    const dead = lines.find((line) => line.msg === 'poison message dead-lettered')!;
    expect(dead).toMatchObject({ level: LEVEL.error, messageId: poison, consumer: CONSUMER, reason: 'non-retryable' });
    expect(dead.err).toMatchObject({ type: 'NonRetryableError', message: 'poison payload refused' });
    expect((dead.err as { stack: string }).stack).toMatch(/^NonRetryableError: poison payload refused\n\s+at /);
  }, 60_000);
});
