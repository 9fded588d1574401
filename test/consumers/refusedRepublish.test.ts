// When the broker refuses a worker's republish (a full queue; a queue without a
// leader while a cluster node fails), nothing is lost: the delivery goes back to
// the broker and is handled again, and a dead letter's inbox row says dead only
// once the dead-letter queue holds it. Both were found by the 3-node cluster test.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, defineConsumer, NonRetryableError, type ConsumerDefinition, type DeadLetter, type Worker } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { publishRaw } from '../support/publishRaw.js';
import { refusePublishes, queueDepth } from '../support/refusingQueue.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const workers: Worker[] = [];

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('refused-republish')]);
});
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  await broker?.delete();
  await db?.drop();
});

const inbox = async (consumer: string, messageId: string) =>
  (
    await db.pool.query<{ status: string; attempts: number }>('SELECT status::text, attempts FROM outbox_inbox WHERE consumer = $1 AND message_id = $2', [
      consumer,
      messageId,
    ])
  ).rows[0];

const depth = (queue: string) => queueDepth(broker, queue);
const refusePublishesTo = (queue: string) => refusePublishes(broker, queue);

async function startWorker(consumer: ConsumerDefinition<typeof testEvents, Tx>): Promise<void> {
  const worker = createWorker({
    prisma: db.prisma,
    amqpUrl: broker.url,
    events: testEvents,
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    consumers: [consumer],
  });
  workers.push(worker);
  await worker.start();
  await eventually(async () => (await broker.channel.checkQueue(consumer.name)).consumerCount === 1, 10_000, 'the worker consuming');
}

describe('a republish the broker refuses', () => {
  it('to a retry queue: the delivery goes back to the broker and is handled once the queue accepts again', async () => {
    const name = 'retry-refused';
    let failing = true;
    let calls = 0;
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        retryDelays: [200],
        maxAttempts: 50,
        deliveryLimit: 100,
        async handle({ tx, messageId }) {
          calls += 1;
          if (failing) throw new Error('not yet');
          await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
        },
      }),
    );
    const refusal = await refusePublishesTo(`${name}.retry.200ms`);
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 1 });
    // Refused retries hand the delivery back: the handler keeps being called (it was left hanging before).
    await eventually(() => calls >= 3, 20_000, 'the delivery handed back and tried again');
    failing = false;
    // (Its fillers expire in the retry queue by themselves: the refusal would end anyway.)
    await refusal.lift({ drain: false });
    await eventually(async () => (await inbox(name, messageId))?.status === 'done', 20_000, 'the message handled');
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM demo_signup_log WHERE message_id = $1', [messageId]);
    expect(rows[0]!.n).toBe(1);
  }, 60_000);

  it('to the dead-letter queue: the inbox says dead only once the DLQ holds it, and the hook runs once', async () => {
    const name = 'dead-refused';
    const hooked: DeadLetter[] = [];
    await startWorker(
      defineConsumer<typeof testEvents, Tx>({
        name,
        events: ['test.anything'],
        deliveryLimit: 100,
        async handle() {
          throw new NonRetryableError('never works');
        },
        onDeadLetter: (letter) => void hooked.push(letter),
      }),
    );
    const refusal = await refusePublishesTo(`${name}.dlq`);
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 1 });
    await eventually(async () => (await inbox(name, messageId)) !== undefined, 10_000, 'the failure recorded');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await inbox(name, messageId)).toMatchObject({ status: 'processing' });
    expect(await depth(`${name}.dlq`)).toBe(refusal.fillers); // nothing but the fillers
    expect(hooked).toEqual([]);

    await refusal.lift({ drain: true });
    await eventually(async () => (await depth(`${name}.dlq`)) === 1, 30_000, 'the dead letter in the DLQ');
    await eventually(async () => (await inbox(name, messageId))?.status === 'dead', 10_000, 'the inbox marked dead');
    expect(hooked.map((letter) => letter.messageId)).toEqual([messageId]);
  }, 60_000);
});
