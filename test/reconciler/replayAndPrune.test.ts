// `outbox replay` and `outbox prune` as an operator runs them.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOutboxCli } from '../support/outboxCli.js';
import { createTestBroker, takeAll, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const CONSUMER = 'process-test';

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('replay-prune')]);
  await broker.channel.assertQueue(CONSUMER, { durable: true });
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE outbox_message, outbox_inbox, outbox_consumer');
  await broker.channel.purgeQueue(CONSUMER);
});

async function outbox(args: string[]) {
  const cli = startOutboxCli(args, { DATABASE_URL: db.url, AMQP_URL: broker.url, CONSUMER_NAME: CONSUMER });
  const exit = await cli.exited;
  return { code: exit.code, output: cli.output() };
}

/** Published rows created `hoursAgo`, of a type; returns their ids in order. */
async function published(hoursAgo: number[], type = 'test.anything'): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at)
     SELECT gen_random_uuid(), $2, to_jsonb(h), 'published', now() - h * interval '1 hour', now() - h * interval '1 hour'
       FROM unnest($1::int[]) WITH ORDINALITY AS t(h, n) ORDER BY n
     RETURNING id::text`,
    [hoursAgo, type],
  );
  return rows.map((row) => row.id);
}

describe('outbox replay', () => {
  it('backfills exactly the selected window to one consumer, skipping what it already did', async () => {
    const [tooOld, inWindow, alreadyDone, tooNew] = await published([48, 20, 10, 1]);
    await db.pool.query("INSERT INTO outbox_inbox (consumer, message_id, status, done_at) VALUES ($1, $2, 'done', now())", [CONSUMER, alreadyDone]);
    const since = new Date(Date.now() - 24 * 3_600_000).toISOString();
    const until = new Date(Date.now() - 2 * 3_600_000).toISOString();

    const result = await outbox(['replay', '--config', 'test/fixtures/worker.config.ts', '--consumer', CONSUMER, '--since', since, '--until', until]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('replayed 1 event(s)');
    const delivered = await takeAll(broker.channel, CONSUMER);
    expect(delivered.map((message) => message.properties.messageId)).toEqual([inWindow]);
    expect(delivered[0]!.properties.headers?.['outbox-replayed-at']).toBeDefined();
    expect([tooOld, tooNew]).not.toContain(delivered[0]!.properties.messageId);
  });

  it('refuses an unknown consumer and a bad time', async () => {
    const unknown = await outbox(['replay', '--config', 'test/fixtures/worker.config.ts', '--consumer', 'nope', '--since', '2026-01-01']);
    expect(unknown.code).toBe(1);
    expect(unknown.output).toContain('no consumer "nope"');
    const badTime = await outbox(['replay', '--config', 'test/fixtures/worker.config.ts', '--consumer', CONSUMER, '--since', 'yesterday']);
    expect(badTime.output).toContain('OUTBOX_INVALID_OPTIONS');
  });
});

describe('outbox prune', () => {
  it('deletes old published rows behind every watermark and their inbox rows, keeps what a consumer may still be owed', async () => {
    const [oldDone, oldOwed, recent] = await published([72, 48, 1]);
    const pending = (
      await db.pool.query<{ id: string }>(
        "INSERT INTO outbox_message (id, event_type, payload, created_at) VALUES (gen_random_uuid(), 'test.anything', '0', now() - interval '100 hours') RETURNING id::text",
      )
    ).rows[0]!.id;
    // The consumer is done with the first row only: its watermark stops before the second.
    const { rows: positions } = await db.pool.query<{ xid: string; seq: string }>(
      'SELECT writer_xid::text AS xid, seq::text FROM outbox_message WHERE id = $1',
      [oldDone],
    );
    await db.pool.query(
      "INSERT INTO outbox_consumer (name, registered_at, watermark_xid, watermark_seq) VALUES ($1, now() - interval '10 days', $2::xid8, $3)",
      [CONSUMER, positions[0]!.xid, positions[0]!.seq],
    );
    await db.pool.query(
      "INSERT INTO outbox_inbox (consumer, message_id, status, done_at, received_at) VALUES ($1, $2, 'done', now() - interval '72 hours', now() - interval '72 hours')",
      [CONSUMER, oldDone],
    );

    const result = await outbox(['prune', '--older-than', '24h']);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('pruned 1 outbox row(s) and 1 inbox row(s)');
    const { rows } = await db.pool.query<{ id: string }>('SELECT id::text FROM outbox_message ORDER BY seq');
    expect(rows.map((row) => row.id)).toEqual([oldOwed, recent, pending]);
    expect((await db.pool.query('SELECT count(*)::int AS count FROM outbox_inbox')).rows[0].count).toBe(0);

    const badDuration = await outbox(['prune', '--older-than', 'a while']);
    expect(badDuration.code).toBe(1);
    expect(badDuration.output).toContain('--older-than "a while": a duration like');
  });
});
