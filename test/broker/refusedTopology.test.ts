// A topology the broker refuses (a queue already declared with other arguments)
// fails the caller's call, and nothing else: the channel's close must not turn
// that failure into an unhandled rejection (which ends a Node process).
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, defineConsumer } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { rabbitmqctl } from '../support/rabbitmqctl.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('refused-topology')]);
  process.on('unhandledRejection', onUnhandled);
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await broker?.delete();
  await db?.drop();
});

describe('a refused topology', () => {
  it('rejects worker.start() with the broker’s reason, and leaves no unhandled rejection', async () => {
    // A classic queue where the worker declares a quorum one.
    await broker.channel.assertQueue('clashing.dlq', { durable: true });
    const worker = createWorker({
      prisma: db.prisma,
      amqpUrl: broker.url,
      events: testEvents,
      logger: pino({ level: 'silent' }),
      consumers: [defineConsumer<typeof testEvents, Tx>({ name: 'clashing', events: ['test.anything'], handle: async () => {} })],
    });
    await expect(worker.start()).rejects.toThrow(/PRECONDITION_FAILED - inequivalent arg 'x-queue-type'/);
    // Its connection is closed by the failed start (stop() has nothing to stop).
    const connections = async () => (await rabbitmqctl('list_connections', 'vhost')).split('\n').filter((line) => line.trim() === broker.vhost).length;
    // The test's own connection is the one left.
    await eventually(async () => (await connections()) === 1, 10_000, 'the worker connection closed');
    await worker.stop();
    // Rejections are reported after the microtasks of the turn that made them: let one full turn pass.
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });
});
