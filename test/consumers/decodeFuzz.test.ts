// The worker's decoding fuzzed, as a real process: deliveries with random bytes,
// invalid UTF-8, huge bodies, wrong content types, and headers and properties of
// every wrong type, mixed with valid ones under random noise. Each valid one is
// handled once; each broken one is dead-lettered as malformed with its reason;
// the worker never crashes.
import { randomUUID } from 'node:crypto';
import type { Options } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { seededRandom, type Random } from '../support/seededRandom.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const CONSUMER = 'fuzz-target';
const CASES = Number(process.env.FUZZ_ROUNDS ?? 250);
let db: TestDatabase;
let broker: TestBroker;
let worker: CliProcess | undefined;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('decode-fuzz')]);
});
afterAll(async () => {
  worker?.child.kill('SIGKILL');
  await broker?.delete();
  await db?.drop();
});

interface FuzzCase {
  valid: boolean;
  defect: string;
  content: Buffer;
  properties: Options.Publish;
}

const wrongTypedValues = (random: Random): unknown[] => ['two', 1.5, 0, -3, 2 ** 60, true, [1], { v: 1 }, null, random.bytes(3), ''];

function noiseHeaders(random: Random): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (let count = random.int(4); count > 0; count--) headers[`h-${random.int(1000)}`] = random.pick(wrongTypedValues(random));
  // The attempt header is advisory: a wrong type means attempt 1, not a broken message.
  if (random.int(3) === 0) headers['outbox-attempt'] = random.pick(wrongTypedValues(random));
  return headers;
}

function validBody(random: Random): Buffer {
  const values: unknown[] = [
    { a: 1, nested: [true, null, 'ü😀'] },
    'text',
    42,
    [],
    { big: 'z'.repeat(random.pick([10, 100_000, 3_000_000])) },
    { deep: JSON.parse('['.repeat(500) + ']'.repeat(500)) as unknown },
  ];
  return Buffer.from(JSON.stringify(random.pick(values)));
}

function fuzzCase(random: Random, index: number): FuzzCase {
  const properties: Options.Publish = {
    messageId: randomUUID(),
    type: 'test.anything',
    contentType: random.pick([undefined, 'application/json']),
    persistent: true,
    headers: { ...noiseHeaders(random), 'fuzz-case': index, ...(random.int(2) ? { 'outbox-event-version': 1 } : {}) },
  };
  if (random.int(5) === 0) return { valid: true, defect: 'none', content: validBody(random), properties };
  const defect = random.pick(['message id', 'type', 'content type', 'version', 'invalid UTF-8', 'not JSON', 'unknown version', 'empty body']);
  let content = validBody(random);
  switch (defect) {
    case 'message id':
      properties.messageId = random.pick([undefined, '', 'not-a-uuid', randomUUID().slice(0, 30), `${randomUUID()}x`, random.bytes(8).toString('latin1')]);
      break;
    case 'type':
      // Without a type property the routing key (the queue's name) stands in: not an event type either.
      properties.type = random.pick([undefined, '', 'no.such.event', 'Test.Anything', 'x'.repeat(255)]);
      break;
    case 'content type':
      properties.contentType = random.pick(['text/plain', 'application/octet-stream', 'application/json; charset=latin1', 'APPLICATION/JSON', '']);
      break;
    case 'version':
      properties.headers = { ...properties.headers, 'outbox-event-version': random.pick(wrongTypedValues(random).filter((value) => value !== null)) };
      break;
    case 'invalid UTF-8':
      content = Buffer.concat([Buffer.from('{"a":"'), random.bytes(random.int(200)), Buffer.from([0xff, 0xc3, 0x28]), Buffer.from('"}')]);
      break;
    case 'not JSON':
      // '#' first: random bytes alone may happen to be JSON (a lone digit is).
      content = random.pick([
        Buffer.from('{not json'),
        Buffer.concat([Buffer.from('#'), random.bytes(random.pick([1, 1000, 2_000_000]))]),
        Buffer.from('[1,2'),
        Buffer.from('NaN'),
      ]);
      break;
    case 'unknown version':
      properties.headers = { ...properties.headers, 'outbox-event-version': random.pick([2, 7, 1000]) };
      break;
    case 'empty body':
      content = Buffer.alloc(0);
      break;
  }
  return { valid: false, defect, content, properties };
}

describe('worker decoding, fuzzed', () => {
  it(`${CASES} random deliveries: valid ones handled once, broken ones dead-lettered as malformed, the worker alive`, async () => {
    const random = seededRandom();
    worker = startOutboxCli(['worker', '--config', 'test/fixtures/worker.config.ts'], { DATABASE_URL: db.url, AMQP_URL: broker.url, CONSUMER_NAME: CONSUMER });
    await eventually(() => worker!.output().includes('"consuming"'), 60_000, 'the worker consuming');

    const cases = Array.from({ length: CASES }, (_, index) => fuzzCase(random, index));
    // Straight into the consumer's queue (default exchange): anything can arrive there.
    for (const each of cases) broker.channel.sendToQueue(CONSUMER, each.content, each.properties);
    const valid = cases.filter((each) => each.valid);
    const handledCount = async () => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM demo_signup_log')).rows[0]!.n;
    const deadCount = async () => (await broker.channel.checkQueue(`${CONSUMER}.dlq`)).messageCount;
    await eventually(
      async () => (await handledCount()) + (await deadCount()) >= CASES,
      90_000,
      `every delivery handled or dead-lettered (seed ${random.seed})`,
    );

    const context = `seed ${random.seed}`;
    const { rows } = await db.pool.query<{ message_id: string; n: number }>('SELECT message_id::text, count(*)::int AS n FROM demo_signup_log GROUP BY 1');
    const handledIds = new Set(rows.map((row) => row.message_id));
    const wronglyHandled = cases.filter((each) => !each.valid && handledIds.has(String(each.properties.messageId).toLowerCase()));
    expect(
      wronglyHandled.map((each) => ({ defect: each.defect, properties: each.properties })),
      context,
    ).toEqual([]);
    expect(rows.map((row) => row.message_id).sort(), context).toEqual(valid.map((each) => String(each.properties.messageId).toLowerCase()).sort());
    expect(
      rows.every((row) => row.n === 1),
      context,
    ).toBe(true);

    const dead = await takeAll(broker.channel, `${CONSUMER}.dlq`);
    const deadCases = dead.map((message) => Number(message.properties.headers?.['fuzz-case'])).sort((a, b) => a - b);
    expect(deadCases, context).toEqual(cases.flatMap((each, index) => (each.valid ? [] : [index])));
    for (const message of dead) {
      const which = cases[Number(message.properties.headers?.['fuzz-case'])]!;
      expect(message.properties.headers?.['outbox-dead-reason'], `${context}, case ${which.defect}`).toBe('malformed');
      expect(String(message.properties.headers?.['outbox-dead-error'] ?? '').length, `${context}, case ${which.defect}`).toBeGreaterThan(0);
    }
    expect((await broker.channel.checkQueue(CONSUMER)).messageCount).toBe(0);
    expect(worker.child.exitCode).toBeNull();
    expect(worker.output()).not.toMatch(/uncaught|unhandled/i);
  }, 180_000);
});
