// The CLI's two streams: logs (pino JSON lines) on stderr, the report alone on
// stdout, as one JSON document with --json, so `outbox … --json | jq` works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declareConsumerTopology } from '../../src/broker/consumerTopology.js';
import { resolveConsumer } from '../../src/catalog/defineConsumer.js';
import { startOutboxCli } from '../support/outboxCli.js';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const CONSUMER = 'cli-output';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('cli-output')]);
  // The queues as the worker (and the reconciler) declare them for the fixture's consumer.
  const consumer = resolveConsumer({ name: CONSUMER, events: ['test.anything'], handle: async () => {} });
  await declareConsumerTopology(broker.channel, { exchange: 'outbox.events', unroutable: 'outbox.unroutable', deadLetterExchange: 'outbox.dlx' }, consumer);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

async function outbox(args: string[]) {
  const cli = startOutboxCli(args, { DATABASE_URL: db.url, AMQP_URL: broker.url, CONSUMER_NAME: CONSUMER, LOG_LEVEL: 'debug' });
  const exit = await cli.exited;
  expect(exit.code, cli.output()).toBe(0);
  return { stdout: cli.stdout(), stderr: cli.stderr() };
}

/** Every stderr line is a pino JSON line. */
function logLines(stderr: string): { level: number; msg: string; [field: string]: unknown }[] {
  return stderr
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as { level: number; msg: string });
}

/** Published rows created an hour ago, owed to the consumer (registered two hours ago). */
async function publishedAnHourAgo(count: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at, available_at)
     SELECT gen_random_uuid(), 'test.anything', '"lost"', 'published', now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour'
       FROM generate_series(1, $1) RETURNING id::text`,
    [count],
  );
  return rows.map((row) => row.id);
}

const deadLetter = (messageId: string) =>
  broker.channel.sendToQueue(`${CONSUMER}.dlq`, Buffer.from('"dead"'), {
    messageId,
    type: 'test.anything',
    persistent: true,
    headers: { 'outbox-dead-reason': 'handler-failed', 'outbox-dead-error': 'Error: boom', 'outbox-attempt': 5 },
  });

describe('outbox CLI output', () => {
  it('reconcile --once: stdout is exactly one JSON document, the logs are on stderr', async () => {
    await db.pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '2 hours') ON CONFLICT DO NOTHING", [CONSUMER]);
    await publishedAnHourAgo(1);
    const { stdout, stderr } = await outbox(['reconcile', '--once', '--config', 'test/fixtures/worker.config.ts']);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'done', rescheduled: 1, consumers: [{ consumer: CONSUMER, rescheduled: 1 }] });
    const logs = logLines(stderr);
    expect(logs.find((line) => line.msg === 'reconciler run done')).toMatchObject({ rescheduled: 1, durationMs: expect.any(Number) });
    expect(stderr).not.toContain('"status":"done"');
    await broker.channel.purgeQueue(CONSUMER);
  });

  it('relay --once: a text line, or with --json its report', async () => {
    await db.pool.query("INSERT INTO outbox_message (id, event_type, payload) SELECT gen_random_uuid(), 'test.anything', '1' FROM generate_series(1, 2)");
    const text = await outbox(['relay', '--once']);
    expect(text.stdout).toMatch(/^published 2, retried 0, failed 0, interrupted 0 \(2 claimed in \d+ batch\(es\)\)\n$/);
    expect(logLines(text.stderr).some((line) => line.msg === 'broker connected')).toBe(true);
    await db.pool.query("INSERT INTO outbox_message (id, event_type, payload) VALUES (gen_random_uuid(), 'test.anything', '1')");
    const json = await outbox(['relay', '--once', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ published: 1, retried: 0, failed: 0, claimed: 1 });
  });

  it('retry-failed --json and prune --json', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      "INSERT INTO outbox_message (id, event_type, payload, status, attempts) VALUES (gen_random_uuid(), 'test.anything', '1', 'failed', 10) RETURNING id::text",
    );
    const retried = await outbox(['retry-failed', '--json']);
    expect(JSON.parse(retried.stdout)).toEqual({ retried: 1, messageIds: [rows[0]!.id] });
    const pruned = await outbox(['prune', '--older-than', '30d', '--json']);
    expect(JSON.parse(pruned.stdout)).toEqual({ outboxRows: 0, inboxRows: 0 });
    const prunedText = await outbox(['prune', '--older-than', '30d']);
    expect(prunedText.stdout).toBe('pruned 0 outbox row(s) and 0 inbox row(s)\n');
  });

  it('replay --json', async () => {
    const ids = await publishedAnHourAgo(2);
    const since = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const replayed = await outbox(['replay', '--config', 'test/fixtures/worker.config.ts', '--consumer', CONSUMER, '--since', since, '--json']);
    const report = JSON.parse(replayed.stdout) as { consumer: string; replayed: number; messageIds: string[] };
    expect(report.consumer).toBe(CONSUMER);
    expect(report.messageIds).toEqual(expect.arrayContaining(ids));
    expect(report.replayed).toBe(report.messageIds.length);
    await broker.channel.purgeQueue(CONSUMER);
  });

  it('OUTBOX_SUMMARY_INTERVAL must be a duration', async () => {
    const cli = startOutboxCli(['relay'], { DATABASE_URL: db.url, AMQP_URL: broker.url, OUTBOX_SUMMARY_INTERVAL: 'often' });
    expect((await cli.exited).code).toBe(1);
    expect(cli.stderr()).toContain('OUTBOX_INVALID_OPTIONS: OUTBOX_SUMMARY_INTERVAL "often": a duration like');
    expect(cli.stdout()).toBe('');
  });

  it('dlq list, replay and purge --json', async () => {
    const [first, second] = [crypto.randomUUID(), crypto.randomUUID()];
    deadLetter(first);
    deadLetter(second);
    const listed = await outbox(['dlq', 'list', CONSUMER, '--json']);
    expect((JSON.parse(listed.stdout) as { messageId: string }[]).map((letter) => letter.messageId).sort()).toEqual([first, second].sort());
    const replayed = await outbox(['dlq', 'replay', CONSUMER, '--id', first, '--json']);
    expect(JSON.parse(replayed.stdout)).toEqual({ consumer: CONSUMER, replayed: 1, messageIds: [first] });
    const purged = await outbox(['dlq', 'purge', CONSUMER, '--json']);
    expect(JSON.parse(purged.stdout)).toEqual({ consumer: CONSUMER, purged: 1 });
    await broker.channel.purgeQueue(CONSUMER);
  });
});
