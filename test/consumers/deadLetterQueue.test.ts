// DLQ tooling through the CLI, against a worker running in the test process.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, defineConsumer, NonRetryableError, type Worker } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { runOutboxCli } from '../support/runOutboxCli.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
let worker: Worker;
let broken = true;
const CONSUMER = 'notify-partner';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('dlq')]);
  worker = createWorker({
    prisma: db.prisma,
    amqpUrl: broker.url,
    events: testEvents,
    logger: pino({ level: 'silent' }),
    consumers: [
      defineConsumer<typeof testEvents, Tx>({
        name: CONSUMER,
        events: ['test.anything'],
        async handle({ tx, messageId }) {
          if (broken) throw new NonRetryableError('partner endpoint returns 410');
          await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
        },
      }),
    ],
  });
  await worker.start();
});
afterAll(async () => {
  await worker?.stop();
  await broker?.delete();
  await db?.drop();
});

const outbox = (args: string[]) => runOutboxCli(args, { DATABASE_URL: db.url, AMQP_URL: broker.url });

const dlqDepth = async () => (await broker.channel.checkQueue(`${CONSUMER}.dlq`)).messageCount;
async function effects(messageId: string): Promise<number> {
  const { rows } = await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM demo_signup_log WHERE message_id = $1', [messageId]);
  return rows[0]!.count;
}

describe('outbox dlq', () => {
  it('lists, replays one after the handler is fixed (effect once, inbox done), then purges the rest', async () => {
    const [first, second, third] = [0, 1, 2].map((index) => publishRaw(broker.channel, { type: 'test.anything', payload: index }));
    await eventually(async () => (await dlqDepth()) === 3, 10_000, 'three dead letters');

    const listed = await outbox(['dlq', 'list', CONSUMER, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const letters = JSON.parse(listed.stdout);
    expect(letters.map((letter: { messageId: string }) => letter.messageId).sort()).toEqual([first, second, third].sort());
    expect(letters[0]).toMatchObject({ reason: 'non-retryable', error: 'NonRetryableError: partner endpoint returns 410', attempts: 1, byBroker: false });
    expect(await dlqDepth()).toBe(3);

    broken = false;
    const replayed = await outbox(['dlq', 'replay', CONSUMER, '--id', first!]);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain('replayed 1 dead letter(s)');
    await eventually(async () => (await effects(first!)) === 1, 10_000, 'the replayed message handled');
    const { rows } = await db.pool.query('SELECT status::text FROM outbox_inbox WHERE consumer = $1 AND message_id = $2', [CONSUMER, first]);
    expect(rows).toEqual([{ status: 'done' }]);
    expect(await dlqDepth()).toBe(2);

    const purged = await outbox(['dlq', 'purge', CONSUMER]);
    expect(purged.stdout).toContain('purged 2 dead letter(s)');
    expect(await dlqDepth()).toBe(0);
    expect(await effects(second!)).toBe(0);

    // Both actions are in the audit log: who (the OS user, from the CLI), what was asked, what it did.
    const audit = await db.pool.query('SELECT actor, source, action, target, details FROM outbox_audit_log ORDER BY id');
    expect(audit.rows).toEqual([
      {
        actor: expect.any(String),
        source: expect.stringMatching(/^cli@/),
        action: 'dlq.replay',
        target: CONSUMER,
        details: { messageIds: [first], replayed: 1, replayedIds: [first] },
      },
      { actor: expect.any(String), source: expect.stringMatching(/^cli@/), action: 'dlq.purge', target: CONSUMER, details: { purged: 2 } },
    ]);
  });

  it('replay --all replays every dead letter', async () => {
    broken = true;
    const ids = [0, 1].map((index) => publishRaw(broker.channel, { type: 'test.anything', payload: index }));
    await eventually(async () => (await dlqDepth()) === 2, 10_000, 'two dead letters');
    broken = false;
    const replayed = await outbox(['dlq', 'replay', CONSUMER, '--all']);
    expect(replayed.stdout).toContain('replayed 2 dead letter(s)');
    for (const id of ids) await eventually(async () => (await effects(id)) === 1, 10_000, 'replayed');
  });

  it('explains a missing consumer and a replay without a selection', async () => {
    const missing = await outbox(['dlq', 'list', 'no-such-consumer']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no dead-letter queue no-such-consumer.dlq');
    const unselected = await outbox(['dlq', 'replay', CONSUMER]);
    expect(unselected.code).toBe(1);
    expect(unselected.stderr).toContain('--id <messageId> or --all');
  });
});
