// What a relay says at info: a periodic summary (published, retried, failed, lag),
// a warning while outbox.unroutable fills up, per-message lines at debug only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createRelay, type Relay } from '../../src/index.js';
import { declareRelayTopology } from '../../src/broker/declareRelayTopology.js';
import { captureLogs, LEVEL, sumOf } from '../support/captureLogs.js';
import { refusePublishes } from '../support/refusingQueue.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
let relay: Relay | undefined;
let holder: pg.PoolClient | undefined;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('relay-summary')]);
  await declareRelayTopology(broker.channel, { exchange: 'outbox.events', unroutable: 'outbox.unroutable' });
  await broker.channel.assertQueue('bound-consumer', { durable: true });
  await broker.channel.bindQueue('bound-consumer', 'outbox.events', 'bound.#');
  await broker.channel.assertQueue('full-consumer', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await broker.channel.bindQueue('full-consumer', 'outbox.events', 'refuse.#');
});
afterAll(async () => {
  await holder?.query('ROLLBACK').catch(() => {});
  holder?.release();
  await relay?.stop();
  await broker?.delete();
  await db?.drop();
});

const insert = (type: string, count: number, dueAgo = '0 seconds') =>
  db.pool.query(
    `INSERT INTO outbox_message (id, event_type, payload, created_at, available_at)
     SELECT gen_random_uuid(), $1, '{}', now() - $3::interval, now() - $3::interval FROM generate_series(1, $2)`,
    [type, count, dueAgo],
  );

describe('relay logging', () => {
  const { logger, lines } = captureLogs('debug');
  const total = (field: string) => sumOf(lines, 'relay summary', field);

  it('summarises published, retried, failed and lag at info, and warns about unroutable events', async () => {
    await refusePublishes(broker, 'full-consumer');
    // A due row the relay cannot claim yet (another transaction holds its lock): the lag.
    await insert('bound.late', 1, '1 hour');
    holder = await db.pool.connect();
    await holder.query('BEGIN');
    await holder.query("SELECT id FROM outbox_message WHERE event_type = 'bound.late' FOR UPDATE");
    await insert('bound.placed', 5);
    await insert('nobody.listens', 2);
    await insert('refuse.me', 1);

    relay = createRelay({
      databaseUrl: db.url,
      amqpUrl: broker.url,
      logger,
      summaryIntervalMs: 100,
      maxPublishAttempts: 2,
      initialBackoffMs: 50,
      maxBackoffMs: 100,
      pollIntervalMs: 20,
    });
    await relay.start();
    await eventually(() => total('published') === 7 && total('retried') === 1 && total('failed') === 1, 30_000, 'the summaries to add up');
    await eventually(() => lines.some((line) => line.msg === 'relay summary' && Number(line.lagMs) >= 3_600_000), 30_000, 'a summary with the held row’s lag');

    // The held row goes once its lock is released; the last summary is written at stop.
    await holder.query('ROLLBACK');
    holder.release();
    holder = undefined;
    await eventually(
      async () => (await db.pool.query("SELECT 1 FROM outbox_message WHERE status = 'published'")).rowCount === 8,
      30_000,
      'every publishable row published',
    );
    await relay.stop();
    relay = undefined;
    expect({ published: total('published'), retried: total('retried'), failed: total('failed') }).toEqual({ published: 8, retried: 1, failed: 1 });
    const summaries = lines.filter((line) => line.msg === 'relay summary');
    expect(summaries.every((line) => line.level === LEVEL.info && line.component === 'relay' && typeof line.sinceMs === 'number')).toBe(true);

    // outbox.unroutable: checked at summary time, a warning with its depth and what to do.
    const warning = lines.find((line) => line.msg.startsWith('outbox.unroutable holds'))!;
    expect(warning).toMatchObject({ level: LEVEL.warn, unroutable: 2, queue: 'outbox.unroutable' });
    expect(warning.msg).toContain('outbox setup --config');
    expect(warning.msg).toContain('outbox status');
    expect(lines.filter((line) => line.msg.startsWith('outbox.unroutable holds'))).toHaveLength(1); // not again while it does not grow

    // Per message: debug only. At info: start, connection, summaries, stop.
    expect(
      lines
        .filter((line) => line.msg === 'publish not confirmed; retrying with backoff')
        .every((line) => line.level === LEVEL.debug && line.eventType === 'refuse.me'),
    ).toBe(true);
    expect(lines.find((line) => line.msg === 'publish failed for good: row marked failed (retry it with retry-failed)')).toMatchObject({
      level: LEVEL.error,
      eventType: 'refuse.me',
    });
    expect(new Set(lines.filter((line) => line.level === LEVEL.info).map((line) => line.msg))).toEqual(
      new Set(['relay started', 'broker connected', 'relay summary', 'relay stopped']),
    );
  }, 60_000);

  it('writes no summary line for intervals in which nothing happened', async () => {
    const quiet = captureLogs('debug');
    // Through the test's Prisma client, whose query events show each summary's lag read.
    let lagReads = 0;
    db.prisma.$on('query', (event) => {
      if (event.query.includes('"oldestDueMs"')) lagReads += 1;
    });
    relay = createRelay({ prisma: db.prisma, amqpUrl: broker.url, logger: quiet.logger, summaryIntervalMs: 50 });
    await relay.start();
    await eventually(() => lagReads >= 3, 10_000, 'three summaries taken');
    expect(quiet.lines.filter((line) => line.msg === 'relay summary')).toEqual([]);

    await insert('bound.after', 1);
    await eventually(() => sumOf(quiet.lines, 'relay summary', 'published') === 1, 10_000, 'the summary of the one publish');
    await relay.stop();
    relay = undefined;
    // Only intervals in which something was due or done have a line.
    const written = quiet.lines.filter((line) => line.msg === 'relay summary');
    expect(written.length).toBeGreaterThan(0);
    expect(written.every((line) => Number(line.published) > 0 || line.lagMs !== null)).toBe(true);
  }, 30_000);
});
