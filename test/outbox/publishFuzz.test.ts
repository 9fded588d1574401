// The write API fuzzed: random payloads and options (odd strings, numbers JSON
// cannot carry, cycles, class instances, oversized values, wrong option types).
// Each call either writes exactly the validated payload or throws an OutboxError
// with a known code and writes nothing; nothing else ever escapes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, isOutboxError, type OutboxErrorCode } from '../../src/index.js';
import { seededRandom, type Random } from '../support/seededRandom.js';
import { anything, orderPlaced, testEvents } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const ROUNDS = Number(process.env.FUZZ_ROUNDS ?? 600);
const EXPECTED_CODES: OutboxErrorCode[] = [
  'OUTBOX_INVALID_PAYLOAD',
  'OUTBOX_PAYLOAD_NOT_SERIALIZABLE',
  'OUTBOX_PAYLOAD_TOO_LARGE',
  'OUTBOX_INVALID_OPTIONS',
  'OUTBOX_UNKNOWN_EVENT',
  'OUTBOX_INVALID_EVENT_TYPE',
];

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
});
afterAll(() => db.drop());

function randomString(random: Random): string {
  const alphabets = ['abc', 'äöü€', '\u0000\u0001\u001f', '\ud800', '\udc00x', '😀', '"\\\'', ' ', '\n\t', 'x'.repeat(300)];
  return Array.from({ length: random.int(6) }, () => random.pick(alphabets)).join('');
}

function randomValue(random: Random, depth = 0): unknown {
  const kind = random.int(depth > 4 ? 8 : 14);
  switch (kind) {
    case 0:
      return randomString(random);
    case 1:
      return random.pick([0, -0, 1.5, -7, 2 ** 53, 2 ** 64, Number.MAX_VALUE, Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY]);
    case 2:
      return random.pick([true, false, null]);
    case 3:
      return random.pick([undefined, 10n, Symbol('s'), () => 1]);
    case 4:
      return random.pick([
        new Date(),
        new Date(Number.NaN),
        new Map(),
        new Set([1]),
        new (class Money {
          cents = 1;
        })(),
        /re/,
        Buffer.from('x'),
      ]);
    case 5:
      return crypto.randomUUID();
    case 6:
      return 'y'.repeat(random.pick([10, 1_000, 300_000]));
    case 7:
      return random.int(1_000_000);
    case 8:
    case 9:
    case 10:
      return Array.from({ length: random.int(4) }, () => randomValue(random, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let index = random.int(4); index > 0; index--)
        object[random.pick(['orderId', 'totalCents', randomString(random), '__proto__', 'constructor'])] = randomValue(random, depth + 1);
      if (random.int(20) === 0) object.self = object;
      return object;
    }
  }
}

function randomOptions(random: Random): unknown {
  if (random.int(2) === 0) return undefined;
  const options: Record<string, unknown> = {};
  if (random.int(2)) options.key = random.pick<unknown>([randomString(random), '', 'k'.repeat(300), 12, null]);
  if (random.int(3) === 0) options.correlationId = random.pick<unknown>([randomString(random), 5, 'c'.repeat(300)]);
  if (random.int(3) === 0)
    options.headers = random.pick<unknown>([
      { ok: 'yes', n: 1, b: true },
      { 'x-reserved': 'no' },
      { nested: { a: 1 } },
      'not-an-object',
      { [randomString(random)]: randomString(random) },
    ]);
  if (random.int(4) === 0) options.availableAt = random.pick<unknown>([new Date(Date.now() + 60_000), new Date(Number.NaN), 'tomorrow', 0]);
  if (random.int(6) === 0) options.unknownOption = true;
  return options;
}

describe('the write API, fuzzed', () => {
  it(`${ROUNDS} random publishes: the validated payload written, or a typed error and nothing`, async () => {
    const random = seededRandom();
    const outbox = createOutbox({ events: testEvents, maxPayloadBytes: 64 * 1024 });
    const written = new Map<string, unknown>();
    const codes = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const event = random.pick<unknown>([anything, orderPlaced, 'test.anything', 'order.placed', 'no.such-event', 'Bad Type!']);
      const payload = random.int(4) === 0 ? { orderId: crypto.randomUUID(), totalCents: random.int(10_000) } : randomValue(random);
      const options = randomOptions(random);
      const outcome = await db.prisma
        .$transaction((tx) => outbox.publish(tx, event as typeof anything, payload, options as never))
        .then(
          (id) => ({ id }),
          (error: unknown) => ({ error }),
        );
      if ('id' in outcome) {
        const definition = typeof event === 'string' ? testEvents.filter((each) => each.type === event).at(-1)! : (event as typeof anything);
        written.set(outcome.id, definition.schema.parse(payload));
        continue;
      }
      const error = outcome.error;
      const described = `seed ${random.seed}, round ${round}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      expect(isOutboxError(error), described).toBe(true);
      expect(EXPECTED_CODES, described).toContain((error as { code: OutboxErrorCode }).code);
      codes.set((error as { code: string }).code, (codes.get((error as { code: string }).code) ?? 0) + 1);
    }

    const { rows } = await db.pool.query<{ id: string; payload: unknown }>('SELECT id::text, payload FROM outbox_message');
    expect(rows.length, `seed ${random.seed}`).toBe(written.size);
    for (const row of rows) {
      // What was stored is what JSON makes of the payload as the schema parsed it.
      expect(row.payload, `seed ${random.seed}, message ${row.id}`).toEqual(JSON.parse(JSON.stringify(written.get(row.id))));
    }
    // The fuzz reached both sides, and several kinds of refusal.
    expect(written.size).toBeGreaterThan(ROUNDS / 20);
    expect(codes.size).toBeGreaterThanOrEqual(4);
  }, 120_000);
});
