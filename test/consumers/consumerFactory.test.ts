// Consumers from outbox.consumers<Tx>() run in a worker as defineConsumer's do:
// each gets the events its patterns match, payloads as the zod schema outputs them,
// and writes its effect through the typed transaction client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Prisma } from '../../generated/prisma/client.js';
import { createOutbox, createRelay, createWorker } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

// demo_signup_log.user_id is a uuid column.
const USER_V1 = '00000000-0000-4000-8000-0000000000a1';
const USER_V2 = '00000000-0000-4000-8000-0000000000a2';

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('consumer-factory')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

describe('consumers from outbox.consumers<Tx>()', () => {
  it('run in a worker, each seeing only the events its patterns match', async () => {
    const outbox = createOutbox({ events: testEvents });
    const defineConsumer = outbox.consumers<Prisma.TransactionClient>();
    const seen: Record<string, unknown[]> = { orders: [], users: [] };

    const orders = defineConsumer({
      name: 'factory-orders',
      events: ['order.placed'],
      async handle({ event, tx, messageId }) {
        seen.orders!.push({ type: event.type, totalCents: event.payload.totalCents });
        await tx.signupLog.create({ data: { userId: event.payload.orderId, messageId } });
      },
    });
    const users = defineConsumer({
      name: 'factory-users',
      events: ['user.*'],
      async handle({ event, tx, messageId }) {
        // Both versions of user.signed-up arrive; version 2 has a plan (defaulted by its schema).
        seen.users!.push(event.version === 2 ? { version: 2, plan: event.payload.plan } : { version: 1, userId: event.payload.userId });
        await tx.signupLog.create({ data: { userId: event.payload.userId, messageId } });
      },
    });

    const worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers: [orders, users], logger });
    try {
      await worker.start();
      const ids = await db.prisma.$transaction(async (tx) => [
        await outbox.publish(tx, 'order.placed', { orderId: '00000000-0000-4000-8000-000000000001', totalCents: 1200 }),
        await outbox.publish(tx, testEvents[1], { userId: USER_V1 }),
        await outbox.publish(tx, 'user.signed-up', { userId: USER_V2 }),
        await outbox.publish(tx, 'test.anything', { ignored: true }),
      ]);
      const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger });
      await relay.runOnce();
      await relay.stop();

      const effects = async () => (await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM demo_signup_log')).rows[0]!.count;
      await eventually(async () => (await effects()) === 3, 10_000, 'three effects');
      expect(seen.orders).toEqual([{ type: 'order.placed', totalCents: 1200 }]);
      expect(seen.users).toHaveLength(2);
      expect(seen.users).toEqual(
        expect.arrayContaining([
          { version: 1, userId: USER_V1 },
          { version: 2, plan: 'free' },
        ]),
      );
      const { rows } = await db.pool.query<{ consumer: string; message_id: string }>(
        "SELECT consumer, message_id::text FROM outbox_inbox WHERE status = 'done'",
      );
      expect(rows).toHaveLength(3);
      expect(rows).toEqual(
        expect.arrayContaining([
          { consumer: 'factory-orders', message_id: ids[0] },
          { consumer: 'factory-users', message_id: ids[1] },
          { consumer: 'factory-users', message_id: ids[2] },
        ]),
      );
    } finally {
      await worker.stop();
    }
  });
});
