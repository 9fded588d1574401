// Every bad input gets an OutboxError with a stable code, and nothing is written.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createOutbox, defineEvent, isOutboxError, OutboxError, type OutboxErrorCode } from '../../src/index.js';
import { anything, orderPlaced, testEvents } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
const outbox = createOutbox({ events: testEvents, maxPayloadBytes: 1024 });

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
});
afterAll(() => db.drop());
beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox_message, demo_user CASCADE');
});

async function countRows(): Promise<number> {
  const { rows } = await db.pool.query<{ count: string }>('SELECT count(*) FROM outbox_message');
  return Number(rows[0]!.count);
}

/**
 * Runs `write` inside a transaction that would otherwise commit a business row,
 * expects the given code, and checks that neither an outbox row nor (since the
 * error propagates) the business row was written.
 */
async function expectRejected(code: OutboxErrorCode, write: (tx: Parameters<Parameters<typeof db.prisma.$transaction>[0]>[0]) => Promise<unknown>) {
  const error = await db.prisma
    .$transaction(async (tx) => {
      await tx.user.create({ data: { email: `${randomUUID()}@example.com`, name: 'x' } });
      return write(tx);
    })
    .then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
  expect(error).toBeInstanceOf(OutboxError);
  expect(isOutboxError(error, code)).toBe(true);
  expect(await countRows()).toBe(0);
  expect(await db.prisma.user.count()).toBe(0);
  return error as OutboxError;
}

describe('invalid payloads', () => {
  it('OUTBOX_INVALID_PAYLOAD lists every zod issue', async () => {
    const error = await expectRejected('OUTBOX_INVALID_PAYLOAD', (tx) => outbox.publish(tx, orderPlaced, { orderId: 'nope', totalCents: -1 }));
    expect(error.issues.map((issue) => issue.path)).toEqual([['orderId'], ['totalCents']]);
    expect(error.message).toContain('order.placed');
  });

  it('OUTBOX_PAYLOAD_NOT_SERIALIZABLE for what JSON cannot carry faithfully', async () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      [{ amount: 10n }, 'BigInt'],
      [{ nested: { list: [1, cyclic] } }, 'circular'],
      [{ callback: () => 1 }, 'function'],
      [{ ratio: Number.NaN }, 'NaN'],
      [{ ratio: Number.POSITIVE_INFINITY }, 'Infinity'],
      [{ tags: new Set(['a']) }, 'Set'],
      [{ index: new Map([['a', 1]]) }, 'Map'],
      [{ id: Symbol('x') }, 'symbol'],
      [[1, undefined], 'undefined'],
      [{ when: new Date(Number.NaN) }, 'invalid Date'],
      [{ note: 'a\u0000b' }, 'U+0000'],
      [{ ['k\u0000']: 1 }, 'U+0000'],
      [{ note: 'x\ud800y' }, 'unpaired surrogate'],
      [['\udc00'], 'unpaired surrogate'],
      [{ when: Object.create(Date.prototype) as unknown }, 'toJSON throws'],
    ];
    for (const [payload, what] of cases) {
      const error = await expectRejected('OUTBOX_PAYLOAD_NOT_SERIALIZABLE', (tx) => outbox.publish(tx, anything, payload));
      expect(error.message).toContain(what);
    }
    const error = await expectRejected('OUTBOX_PAYLOAD_NOT_SERIALIZABLE', (tx) => outbox.publish(tx, anything, { deep: [{ value: 1n }] }));
    expect(error.issues[0]!.path).toEqual(['deep', 0, 'value']);
  });

  it('OUTBOX_PAYLOAD_TOO_LARGE over maxPayloadBytes, counted in UTF-8 bytes', async () => {
    // 400 three-byte characters: 1200 bytes, although only 400 JavaScript characters.
    const error = await expectRejected('OUTBOX_PAYLOAD_TOO_LARGE', (tx) => outbox.publish(tx, anything, { text: '€'.repeat(400) }));
    expect(error.message).toMatch(/1211 bytes, over the limit of 1024/);
    await db.prisma.$transaction((tx) => outbox.publish(tx, anything, { text: 'x'.repeat(1000) }));
    expect(await countRows()).toBe(1);
  });
});

describe('unknown and invalid events', () => {
  it('OUTBOX_UNKNOWN_EVENT for a type or a definition outside the catalog', async () => {
    const stranger = defineEvent('invoice.paid', z.object({ invoiceId: z.string() }));
    await expectRejected('OUTBOX_UNKNOWN_EVENT', (tx) =>
      // @ts-expect-error: not in the catalog
      outbox.publish(tx, 'invoice.paid', { invoiceId: '1' }),
    );
    await expectRejected('OUTBOX_UNKNOWN_EVENT', (tx) =>
      // @ts-expect-error: not in the catalog
      outbox.publish(tx, stranger, { invoiceId: '1' }),
    );
    // Same type and version as a catalog event, but not the catalog's schema.
    const lookAlike = defineEvent('order.placed', z.any());
    const error = await expectRejected('OUTBOX_UNKNOWN_EVENT', (tx) => outbox.publish(tx, lookAlike as never, 'anything' as never));
    expect(error.message).toContain('not the definition registered in the catalog');
  });

  it('OUTBOX_INVALID_EVENT_TYPE for a type that is not a valid routing key', async () => {
    for (const type of ['order.*', 'order.#', 'Order.Placed', 'order..placed', '.order', 'order placed', '', 'a'.repeat(256)]) {
      expect(() => defineEvent(type, z.any()), type).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_EVENT_TYPE' }));
      await expectRejected('OUTBOX_INVALID_EVENT_TYPE', (tx) =>
        // @ts-expect-error: not a catalog type
        outbox.publish(tx, type, {}),
      );
    }
    expect(defineEvent('billing.invoice_v2.paid-late', z.any()).type).toBe('billing.invoice_v2.paid-late');
  });

  it('OUTBOX_INVALID_CATALOG for a duplicate (type, version) or a bad version', () => {
    const one = defineEvent('a.b', z.any());
    const two = defineEvent('a.b', z.any());
    expect(() => createOutbox({ events: [one, two] })).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_CATALOG' }));
    expect(() => defineEvent('a.b', z.any(), { version: 0 })).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_CATALOG' }));
    expect(() => defineEvent('a.b', z.any(), { version: 1.5 })).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_CATALOG' }));
  });
});

describe('invalid publish options', () => {
  it('OUTBOX_INVALID_OPTIONS names each bad option', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ key: '' }, 'key'],
      [{ key: 'k'.repeat(256) }, 'key'],
      [{ headers: { 'x-death': 'forged' } }, 'reserved'],
      [{ headers: { tenant: { nested: true } } }, 'headers'],
      [{ correlationId: 'c'.repeat(300) }, 'correlationId'],
      [{ traceparent: 'not-a-traceparent' }, 'traceparent'],
      [{ availableAt: 'tomorrow' }, 'availableAt'],
      [{ availableAt: new Date(Number.NaN) }, 'availableAt'],
      [{ priority: 5 }, 'priority'],
    ];
    for (const [options, mention] of cases) {
      const error = await expectRejected('OUTBOX_INVALID_OPTIONS', (tx) => outbox.publish(tx, anything, {}, options));
      expect(error.message, JSON.stringify(options)).toContain(mention);
    }
  });

  it('OUTBOX_INVALID_OPTIONS for a publishMany item that is not a message', async () => {
    await expectRejected('OUTBOX_INVALID_OPTIONS', (tx) => outbox.publishMany(tx, [{ event: anything, payload: 1 }, null as never]));
    await expectRejected('OUTBOX_INVALID_OPTIONS', (tx) => outbox.publishMany(tx, 'not an array' as never));
  });

  it('OUTBOX_INVALID_OPTIONS for bad outbox options', () => {
    expect(() => createOutbox({ events: testEvents, maxPayloadBytes: -1 })).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_OPTIONS' }));
    expect(() => createOutbox({ events: testEvents, wakeRelay: 'yes' as never })).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_OPTIONS' }));
  });
});

describe('outside a transaction', () => {
  it('OUTBOX_NOT_IN_TRANSACTION for the root client, and nothing is auto-committed', async () => {
    const attempt = outbox.publish(
      // @ts-expect-error: the root client is refused at compile time as well
      db.prisma,
      anything,
      {},
    );
    await expect(attempt).rejects.toMatchObject({ code: 'OUTBOX_NOT_IN_TRANSACTION' });
    await expect(
      // @ts-expect-error: the root client is refused at compile time as well
      outbox.publishMany(db.prisma, [{ event: anything, payload: {} }]),
    ).rejects.toMatchObject({ code: 'OUTBOX_NOT_IN_TRANSACTION' });
    await expect(outbox.publish({} as never, anything, {})).rejects.toMatchObject({ code: 'OUTBOX_NOT_IN_TRANSACTION' });
    expect(await countRows()).toBe(0);
  });
});

describe('database failures', () => {
  it('OUTBOX_WRITE_FAILED when the outbox table is missing, with the cause attached', async () => {
    await db.pool.query('ALTER TABLE outbox_message RENAME TO outbox_message_moved');
    try {
      const error = await db.prisma.$transaction((tx) => outbox.publish(tx, anything, {})).catch((rejection: unknown) => rejection);
      expect(isOutboxError(error, 'OUTBOX_WRITE_FAILED')).toBe(true);
      expect((error as OutboxError).message).toContain('outbox tables are missing');
      expect((error as OutboxError).cause).toBeDefined();
    } finally {
      await db.pool.query('ALTER TABLE outbox_message_moved RENAME TO outbox_message');
    }
    expect(await countRows()).toBe(0);
  });
});
