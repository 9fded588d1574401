// The worker as a real process (`outbox worker --config`): killed between its
// commit and its ack, then restarted. The redelivery must be skipped: one effect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRaw } from '../support/publishRaw.js';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const running: CliProcess[] = [];
const CONSUMER = 'process-test';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('worker-process')]);
});
afterAll(async () => {
  for (const cli of running) cli.child.kill('SIGKILL');
  await broker?.delete();
  await db?.drop();
});

function worker(env: Record<string, string> = {}): CliProcess {
  const cli = startOutboxCli(['worker', '--config', 'test/fixtures/worker.config.ts'], {
    DATABASE_URL: db.url,
    AMQP_URL: broker.url,
    CONSUMER_NAME: CONSUMER,
    ...env,
  });
  running.push(cli);
  return cli;
}

async function effects(messageId: string): Promise<number> {
  const { rows } = await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM demo_signup_log WHERE message_id = $1', [messageId]);
  return rows[0]!.count;
}

describe('worker process', () => {
  it('SIGKILL after commit, before ack: the redelivery is skipped as a duplicate; one effect', async () => {
    const doomed = worker({ KILL_AFTER_COMMIT: '1' });
    await eventually(() => doomed.output().includes('"consuming"'), 30_000, 'the worker to consume');
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'once' });
    const exit = await doomed.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(await effects(messageId)).toBe(1);
    const { rows } = await db.pool.query('SELECT status::text FROM outbox_inbox WHERE consumer = $1 AND message_id = $2', [CONSUMER, messageId]);
    expect(rows).toEqual([{ status: 'done' }]);
    // Not acked: the message is back in the queue.
    await eventually(async () => (await broker.channel.checkQueue(CONSUMER)).messageCount === 1, 10_000, 'the unacked message back in the queue');

    const survivor = worker();
    await eventually(async () => (await broker.channel.checkQueue(CONSUMER)).messageCount === 0, 30_000, 'the redelivery handled');
    await eventually(() => survivor.output().includes('duplicate delivery'), 10_000, 'the skip logged');
    expect(await effects(messageId)).toBe(1);
    survivor.child.kill('SIGTERM');
    expect((await survivor.exited).code).toBe(0);
    expect(survivor.output()).toContain('worker stopped');
  });
});
