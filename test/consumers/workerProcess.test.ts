// The worker as a real process (`outbox worker --config`): killed between its
// commit and its ack, then restarted. The redelivery must be skipped: one effect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRaw } from '../support/publishRaw.js';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
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
  it('a message that kills the worker every time is dead-lettered by the quorum queue’s delivery limit', { timeout: 90_000 }, async () => {
    const consumer = 'crash-loop';
    const env = { CONSUMER_NAME: consumer, KILL_IN_HANDLER: '1', DELIVERY_LIMIT: '2' };
    const first = worker(env);
    await eventually(() => first.output().includes('"consuming"'), 30_000, 'the worker to consume');
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'poison pill' });
    expect((await first.exited).signal).toBe('SIGKILL');
    let restarts = 0;
    while ((await broker.channel.checkQueue(`${consumer}.dlq`)).messageCount === 0) {
      restarts += 1;
      expect(restarts, 'restarts before the delivery limit caught the message').toBeLessThanOrEqual(5);
      const next = worker(env);
      // It either dies on the redelivery or, once the limit is reached, idles: give it a moment.
      await Promise.race([next.exited, new Promise((resolve) => setTimeout(resolve, 4000))]);
      next.child.kill('SIGKILL');
      await next.exited;
    }
    const [dead] = await takeAll(broker.channel, `${consumer}.dlq`);
    expect(dead!.properties.messageId).toBe(messageId);
    expect(dead!.properties.headers?.['x-death']?.[0]?.reason).toBe('delivery_limit');
    expect((await broker.channel.checkQueue(consumer)).messageCount).toBe(0);
  });

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

    // Its summary (every 100 ms) counts the skip: per-delivery lines are debug.
    const survivor = worker({ OUTBOX_SUMMARY_INTERVAL: '100ms' });
    const skipped = () =>
      survivor
        .stderr()
        .split('\n')
        .filter((line) => line.includes('"consumer summary"'))
        .reduce((sum, line) => sum + (JSON.parse(line) as { duplicates: number }).duplicates, 0);
    await eventually(() => skipped() === 1, 30_000, 'the skip counted in a summary');
    expect(await effects(messageId)).toBe(1);
    survivor.child.kill('SIGTERM');
    expect((await survivor.exited).code).toBe(0);
    expect(survivor.output()).toContain('worker stopped');
  });

  it('a batched consumer killed after a group commits, before its acks: every redelivery of the group is skipped; one effect each', async () => {
    const consumer = 'process-batch';
    const declaring = worker({ CONSUMER_NAME: consumer });
    await eventually(() => declaring.output().includes('"consuming"'), 30_000, 'the queues declared');
    declaring.child.kill('SIGTERM');
    await declaring.exited;
    // Waiting in the queue before the worker starts, so its first group is a burst.
    const messageIds = Array.from({ length: 8 }, (_, index) => publishRaw(broker.channel, { type: 'test.anything', payload: index }));
    await eventually(async () => (await broker.channel.checkQueue(consumer)).messageCount === 8, 10_000, 'the eight messages queued');
    const doomed = worker({ CONSUMER_NAME: consumer, BATCH_SIZE: '8', KILL_AFTER_COMMIT: '1' });
    expect((await doomed.exited).signal).toBe('SIGKILL');
    const { rows } = await db.pool.query<{ status: string; transactions: number; count: number }>(
      `SELECT status::text, count(DISTINCT done_at)::int AS transactions, count(*)::int AS count
         FROM outbox_inbox WHERE consumer = $1 AND message_id = ANY($2::uuid[]) GROUP BY status`,
      [consumer, messageIds],
    );
    // One transaction (one commit time) recorded the first group as done. Its size is what
    // the first socket reads brought (all eight on a quiet machine, fewer under load).
    expect(rows).toHaveLength(1);
    const [group] = rows;
    expect(group).toMatchObject({ status: 'done', transactions: 1 });
    expect(group!.count).toBeGreaterThanOrEqual(2);
    await eventually(async () => (await broker.channel.checkQueue(consumer)).messageCount === 8, 10_000, 'the unacked messages back in the queue');

    const survivor = worker({ CONSUMER_NAME: consumer, BATCH_SIZE: '8', OUTBOX_SUMMARY_INTERVAL: '100ms' });
    const counted = (field: 'duplicates' | 'handled') => () =>
      survivor
        .stderr()
        .split('\n')
        .filter((line) => line.includes('"consumer summary"'))
        .reduce((sum, line) => sum + ((JSON.parse(line) as Record<string, number>)[field] ?? 0), 0);
    await eventually(() => counted('duplicates')() + counted('handled')() === 8, 30_000, 'the eight redeliveries counted');
    expect(counted('duplicates')()).toBe(group!.count);
    for (const messageId of messageIds) expect(await effects(messageId)).toBe(1);
    await eventually(async () => (await broker.channel.checkQueue(consumer)).messageCount === 0, 10_000, 'the queue drained');
    survivor.child.kill('SIGTERM');
    expect((await survivor.exited).code).toBe(0);
  });

  it('outside the transaction: killed between the provider call and complete(), the redelivery repeats the call with the same key; one effect', async () => {
    const consumer = 'process-outside';
    const doomed = worker({ CONSUMER_NAME: consumer, OUTSIDE_TRANSACTION: '1', KILL_BEFORE_COMPLETE: '1' });
    await eventually(() => doomed.output().includes('"consuming"'), 30_000, 'the worker to consume');
    const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'charge' });
    expect((await doomed.exited).signal).toBe('SIGKILL');
    const calls = async () =>
      (await db.pool.query<{ calls: number }>('SELECT calls FROM demo_provider_call WHERE idempotency_key = $1', [`${consumer}:${messageId}`])).rows;
    expect(await calls()).toEqual([{ calls: 1 }]);
    // The attempt was recorded before the call, and nothing after it.
    const inbox = () => db.pool.query('SELECT status::text, attempts FROM outbox_inbox WHERE consumer = $1 AND message_id = $2', [consumer, messageId]);
    expect((await inbox()).rows).toEqual([{ status: 'processing', attempts: 1 }]);
    expect(await effects(messageId)).toBe(0);

    const survivor = worker({ CONSUMER_NAME: consumer, OUTSIDE_TRANSACTION: '1' });
    await eventually(async () => (await inbox()).rows[0]?.status === 'done', 30_000, 'the redelivery done');
    expect((await inbox()).rows).toEqual([{ status: 'done', attempts: 2 }]);
    expect(await calls()).toEqual([{ calls: 2 }]);
    expect(await effects(messageId)).toBe(1);
    survivor.child.kill('SIGTERM');
    expect((await survivor.exited).code).toBe(0);
  });
});
