// A dead letter the dead-letter queue refuses (or that a failing node never
// confirms) is not lost: the inbox is marked dead only after the DLQ confirmed
// the copy, so the redelivery dead-letters it again instead of skipping it as a
// duplicate. Found by the 3-node cluster test.
import amqp from 'amqplib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, defineConsumer, NonRetryableError, type DeadLetter, type Worker } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { publishRaw } from '../support/publishRaw.js';
import { rabbitmqctl } from '../support/rabbitmqctl.js';
import { createTestBroker, eventually, managementApi, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];
const CONSUMER = 'keep-dead';

let db: TestDatabase;
let broker: TestBroker;
let worker: Worker | undefined;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('dead-durability')]);
});
afterAll(async () => {
  await worker?.stop();
  await broker?.delete();
  await db?.drop();
});

const inbox = async (messageId: string) =>
  (await db.pool.query<{ status: string; attempts: number }>('SELECT status::text, attempts FROM outbox_inbox WHERE consumer = $1 AND message_id = $2', [CONSUMER, messageId])).rows[0];
/** On a connection of its own: the test closes every connection of the vhost, its own included. */
async function dlqDepth(): Promise<number> {
  const connection = await amqp.connect(broker.url);
  try {
    return (await (await connection.createChannel()).checkQueue(`${CONSUMER}.dlq`)).messageCount;
  } finally {
    await connection.close();
  }
}

describe('dead letters', () => {
  it('reach the DLQ even when the first publish to it is refused; the inbox says dead only then, the hook runs once', async () => {
    const policy = `/policies/${encodeURIComponent(broker.vhost)}/refuse-dead-letters`;
    // The DLQ refuses every message, as a full or unavailable queue would.
    await managementApi('PUT', policy, { pattern: `^${CONSUMER}\\.dlq$`, 'apply-to': 'queues', definition: { 'max-length': 0, overflow: 'reject-publish' } });
    const hooked: DeadLetter[] = [];
    worker = createWorker({
      prisma: db.prisma,
      amqpUrl: broker.url,
      events: testEvents,
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      consumers: [
        defineConsumer<typeof testEvents, Tx>({
          name: CONSUMER,
          events: ['test.anything'],
          async handle() {
            throw new NonRetryableError('never works');
          },
          onDeadLetter: (letter) => void hooked.push(letter),
        }),
      ],
    });
    await worker.start();
    await eventually(async () => (await broker.channel.checkQueue(CONSUMER)).consumerCount === 1, 10_000, 'the worker consuming');
    const queueInfo = async () => (await (await managementApi('GET', `/queues/${encodeURIComponent(broker.vhost)}/${CONSUMER}.dlq`)).json()) as { effective_policy_definition?: Record<string, unknown> };
    await eventually(async () => (await queueInfo()).effective_policy_definition?.['max-length'] === 0, 20_000, 'the policy in force');
    // A quorum queue enforces the limit once it is exceeded: fill it until it refuses.
    const confirms = await broker.connection.createConfirmChannel();
    const refused = async () =>
      new Promise<boolean>((resolve) => confirms.sendToQueue(`${CONSUMER}.dlq`, Buffer.from('filler'), { messageId: 'filler' }, (error: unknown) => resolve(Boolean(error))));
    for (let tries = 0; !(await refused()); tries++) expect(tries).toBeLessThan(5);
    await confirms.close();
    const fillers = await dlqDepth();
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 1 });

    await eventually(async () => (await inbox(messageId)) !== undefined, 10_000, 'the failure recorded');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await inbox(messageId)).toMatchObject({ status: 'processing' });
    expect(await dlqDepth()).toBe(fillers);
    expect(hooked).toEqual([]);

    // The DLQ accepts again; the connection drops, so the unacknowledged delivery comes back.
    await managementApi('DELETE', policy);
    await rabbitmqctl('close_all_connections', '--vhost', broker.vhost, 'test: redeliver');
    await eventually(async () => (await dlqDepth()) === fillers + 1, 30_000, 'the dead letter in the DLQ');
    await eventually(async () => (await inbox(messageId))?.status === 'dead', 10_000, 'the inbox marked dead');
    expect(hooked.map((letter) => letter.messageId)).toEqual([messageId]);
  }, 60_000);
});
