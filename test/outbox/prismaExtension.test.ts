import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, outboxExtension } from '../../src/index.js';
import { orderPlaced, testEvents } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
const outbox = createOutbox({ events: testEvents });

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
});
afterAll(() => db.drop());

describe('the Prisma Client extension', () => {
  it('publishes through tx.$publish and tx.$publishMany inside $transaction, atomically', async () => {
    const prisma = db.prisma.$extends(outboxExtension(outbox));
    const orderId = randomUUID();

    const [single, many] = await prisma.$transaction(async (tx) => {
      const user = await tx.user.create({ data: { email: 'ext@example.com', name: 'Ext' } });
      await tx.order.create({ data: { id: orderId, userId: user.id, lines: [], totalCents: 10 } });
      const id = await tx.$publish(orderPlaced, { orderId, totalCents: 10 }, { key: orderId });
      const ids = await tx.$publishMany([
        { event: 'user.signed-up', payload: { userId: user.id } },
        { event: orderPlaced, payload: { orderId, totalCents: 11 }, key: orderId },
      ]);
      return [id, ids] as const;
    });

    const { rows } = await db.pool.query('SELECT id, event_type, event_version, ordering_key FROM outbox_message ORDER BY seq');
    expect(rows).toEqual([
      { id: single, event_type: 'order.placed', event_version: 1, ordering_key: orderId },
      { id: many[0], event_type: 'user.signed-up', event_version: 2, ordering_key: null },
      { id: many[1], event_type: 'order.placed', event_version: 1, ordering_key: orderId },
    ]);
  });

  it('rolls back with the transaction', async () => {
    const prisma = db.prisma.$extends(outboxExtension(outbox));
    const before = await db.pool.query('SELECT count(*)::int AS count FROM outbox_message');
    await expect(
      prisma.$transaction(async (tx) => {
        await tx.$publish('user.signed-up', { userId: 'rolled-back' });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const after = await db.pool.query('SELECT count(*)::int AS count FROM outbox_message');
    expect(after.rows[0].count).toBe(before.rows[0].count);
  });

  it('refuses the root client with OUTBOX_NOT_IN_TRANSACTION', async () => {
    const prisma = db.prisma.$extends(outboxExtension(outbox));
    // @ts-expect-error: the root client is refused at compile time as well
    await expect(prisma.$publish('user.signed-up', { userId: 'u' })).rejects.toMatchObject({ code: 'OUTBOX_NOT_IN_TRANSACTION' });
    // @ts-expect-error: the root client is refused at compile time as well
    await expect(prisma.$publishMany([{ event: 'user.signed-up', payload: { userId: 'u' } }])).rejects.toMatchObject({
      code: 'OUTBOX_NOT_IN_TRANSACTION',
    });
  });

  it('validates payloads as publish does', async () => {
    const prisma = db.prisma.$extends(outboxExtension(outbox));
    await expect(
      prisma.$transaction((tx) =>
        // @ts-expect-error: orderId is missing
        tx.$publish(orderPlaced, { totalCents: 1 }),
      ),
    ).rejects.toMatchObject({ code: 'OUTBOX_INVALID_PAYLOAD' });
  });
});
