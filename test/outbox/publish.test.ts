import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOutbox } from '../../src/index.js';
import { anything, orderPlaced, testEvents, userSignedUp, userSignedUpV1 } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
const outbox = createOutbox({ events: testEvents });
const executedSql: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  db.prisma.$on('query', (event) => executedSql.push(event.query));
});
afterAll(() => db.drop());
beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox_message, demo_order, demo_user CASCADE');
});

async function outboxRows() {
  const { rows } = await db.pool.query(
    `SELECT id, seq, event_type, event_version, ordering_key, payload, headers, status, attempts,
            last_error, published_at, created_at, available_at
       FROM outbox_message ORDER BY seq`,
  );
  return rows;
}

describe('publish inside an interactive transaction', () => {
  it('writes the row with the business rows when the transaction commits', async () => {
    const orderId = randomUUID();
    const messageId = await db.prisma.$transaction(async (tx) => {
      const user = await tx.user.create({ data: { email: 'a@example.com', name: 'A' } });
      await tx.order.create({ data: { id: orderId, userId: user.id, lines: [], totalCents: 1200 } });
      return outbox.publish(tx, orderPlaced, { orderId, totalCents: 1200 }, { key: orderId, correlationId: 'req-1' });
    });

    expect(messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const [row, ...others] = await outboxRows();
    expect(others).toEqual([]);
    expect(row).toMatchObject({
      id: messageId,
      event_type: 'order.placed',
      event_version: 1,
      ordering_key: orderId,
      payload: { orderId, totalCents: 1200 },
      headers: { correlationId: 'req-1' },
      status: 'pending',
      attempts: 0,
      last_error: null,
      published_at: null,
    });
    expect(row.available_at.getTime()).toBe(row.created_at.getTime());
    expect(await db.prisma.order.count()).toBe(1);
  });

  it('writes nothing when the transaction rolls back', async () => {
    const failure = new Error('payment declined');
    await expect(
      db.prisma.$transaction(async (tx) => {
        const user = await tx.user.create({ data: { email: 'b@example.com', name: 'B' } });
        const orderId = randomUUID();
        await tx.order.create({ data: { id: orderId, userId: user.id, lines: [], totalCents: 5 } });
        await outbox.publish(tx, orderPlaced, { orderId, totalCents: 5 });
        throw failure;
      }),
    ).rejects.toBe(failure);

    expect(await outboxRows()).toEqual([]);
    expect(await db.prisma.user.count()).toBe(0);
  });

  it('accepts the event by type name and uses its latest version, applying schema defaults', async () => {
    await db.prisma.$transaction((tx) => outbox.publish(tx, 'user.signed-up', { userId: 'u1' }));
    await db.prisma.$transaction((tx) => outbox.publish(tx, userSignedUpV1, { userId: 'u2' }));

    const rows = await outboxRows();
    expect(rows.map((row) => [row.event_type, row.event_version, row.payload])).toEqual([
      ['user.signed-up', userSignedUp.version, { userId: 'u1', plan: 'free' }],
      ['user.signed-up', 1, { userId: 'u2' }],
    ]);
  });

  it('stores headers, traceparent and a scheduled availableAt', async () => {
    const availableAt = new Date(Date.now() + 3_600_000);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await db.prisma.$transaction((tx) =>
      outbox.publish(
        tx,
        anything,
        { nested: [1, 'two', { three: true }], at: new Date(0) },
        {
          headers: { tenant: 'acme', priority: 3, beta: false },
          traceparent,
          availableAt,
        },
      ),
    );
    const [row] = await outboxRows();
    expect(row.headers).toEqual({ tenant: 'acme', priority: 3, beta: false, traceparent });
    expect(row.available_at.getTime()).toBe(availableAt.getTime());
    expect(row.payload).toEqual({ nested: [1, 'two', { three: true }], at: '1970-01-01T00:00:00.000Z' });
  });

  it('gives time-ordered ids and increasing seq in write order', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      ids.push(await db.prisma.$transaction((tx) => outbox.publish(tx, anything, index)));
    }
    const rows = await outboxRows();
    expect(rows.map((row) => row.id)).toEqual(ids);
    expect([...ids].sort()).toEqual(ids.slice().sort());
  });
});

describe('publishMany', () => {
  it('inserts every message with one INSERT and returns the ids in input order', async () => {
    const orderIds = Array.from({ length: 50 }, () => randomUUID());
    executedSql.length = 0;
    const ids = await db.prisma.$transaction((tx) =>
      outbox.publishMany(tx, [
        ...orderIds.map((orderId, index) => ({ event: orderPlaced, payload: { orderId, totalCents: index }, key: orderId })),
        { event: 'user.signed-up' as const, payload: { userId: 'u9', plan: 'pro' as const }, correlationId: 'batch' },
      ]),
    );

    expect(executedSql.filter((text) => /insert/i.test(text))).toHaveLength(1);
    const rows = await outboxRows();
    expect(rows.map((row) => row.id)).toEqual(ids);
    expect(rows).toHaveLength(51);
    expect(rows.slice(0, 50).map((row) => row.payload.orderId)).toEqual(orderIds);
    expect(rows.slice(0, 50).map((row) => row.ordering_key)).toEqual(orderIds);
    expect(rows[50]).toMatchObject({ event_type: 'user.signed-up', event_version: 2, headers: { correlationId: 'batch' } });
  });

  it('writes nothing when any one message is invalid', async () => {
    await expect(
      db.prisma.$transaction((tx) =>
        outbox.publishMany(tx, [
          { event: orderPlaced, payload: { orderId: randomUUID(), totalCents: 1 } },
          { event: orderPlaced, payload: { orderId: 'not-a-uuid', totalCents: 1 } },
        ]),
      ),
    ).rejects.toMatchObject({ code: 'OUTBOX_INVALID_PAYLOAD', issues: [expect.objectContaining({ path: ['orderId'] })] });
    expect(await outboxRows()).toEqual([]);
  });

  it('returns [] for an empty batch without a statement', async () => {
    executedSql.length = 0;
    await expect(db.prisma.$transaction((tx) => outbox.publishMany(tx, []))).resolves.toEqual([]);
    expect(executedSql.filter((text) => /insert/i.test(text))).toEqual([]);
  });
});

describe('concurrent publishers', () => {
  it('keeps every committed message and none of the rolled-back ones', async () => {
    const writers = Array.from({ length: 24 }, (_, writer) =>
      db.prisma
        .$transaction(async (tx) => {
          const ids = await outbox.publishMany(
            tx,
            Array.from({ length: 10 }, (_, index) => ({ event: anything, payload: { writer, index }, key: `writer-${writer}` })),
          );
          if (writer % 4 === 0) throw new Error(`writer ${writer} rolls back`);
          return ids;
        })
        .then(
          (ids) => ({ writer, ids }),
          () => ({ writer, ids: [] as string[] }),
        ),
    );
    const results = await Promise.all(writers);
    const committed = results.flatMap((result) => result.ids);

    const rows = await outboxRows();
    expect(committed).toHaveLength(18 * 10);
    expect(new Set(rows.map((row) => row.id))).toEqual(new Set(committed));
    expect(rows.some((row) => row.payload.writer % 4 === 0)).toBe(false);
    // Within one writer (one ordering key), seq follows write order.
    for (const { writer } of results.filter((result) => result.ids.length > 0)) {
      const indexes = rows.filter((row) => row.payload.writer === writer).map((row) => row.payload.index);
      expect(indexes).toEqual([...Array(10).keys()]);
    }
  });
});
