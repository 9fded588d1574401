// A consumer the broker cancels (its queue deleted by an operator, or lost with a
// node) must not leave the worker connected but silently consuming nothing: it
// reconnects, declares the queue again and consumes from it.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, defineConsumer } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('consumer-cancelled')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

describe('a consumer cancelled by the broker', () => {
  it('its queue deleted: the worker declares it again and goes on consuming', async () => {
    const name = 'cancelled';
    const worker = createWorker({
      prisma: db.prisma,
      amqpUrl: broker.url,
      events: testEvents,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      consumers: [
        defineConsumer<typeof testEvents, Tx>({
          name,
          events: ['test.anything'],
          async handle({ tx, messageId }) {
            await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
          },
        }),
      ],
    });
    try {
      await worker.start();
      await eventually(async () => (await broker.channel.checkQueue(name)).consumerCount === 1, 15_000, 'the worker consuming');
      await broker.channel.deleteQueue(name);
      // Asked on a channel of its own: checking a queue that does not exist closes the channel.
      const queueExists = async () => {
        const probe = await broker.connection.createChannel();
        probe.on('error', () => {});
        return probe.checkQueue(name).then(
          () => probe.close().then(() => true),
          () => false,
        );
      };
      await eventually(queueExists, 15_000, 'the queue declared again');
      await eventually(async () => (await broker.channel.checkQueue(name)).consumerCount === 1, 15_000, 'a consumer on it again');
      const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'after the cancel' });
      await eventually(
        async () => (await db.pool.query('SELECT 1 FROM demo_signup_log WHERE message_id = $1', [messageId])).rowCount === 1,
        10_000,
        'the message handled',
      );
      expect(worker.health().healthy).toBe(true);
    } finally {
      await worker.stop();
    }
  });
});
