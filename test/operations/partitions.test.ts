// The partitioned layout (docs/partitioning.md): converting a populated install without
// losing a row or stopping the writers, days created ahead (and rows of a day without a
// partition moved in), and retention by dropping whole days: the same rows remain as
// with row-by-row prune on the same data, and nothing still needed is dropped.
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createOutbox } from '../../src/index.js';
import { createPgSqlStore, type SqlStore } from '../../src/database/sqlStore.js';
import { dayPartitionName, dayStart, DAY_MS, readPartitions, uuidFloor } from '../../src/database/partitionLayout.js';
import { enablePartitioning, removeLeftoverBounds } from '../../src/database/enablePartitioning.js';
import { createPartitionsAhead, readPartitionHealth } from '../../src/database/maintainPartitions.js';
import { pruneOutbox } from '../../src/operations/pruneOutbox.js';
import { newMessageId } from '../../src/outbox/newMessageId.js';
import { anything, testEvents } from '../support/events.js';
import { runOutboxCli } from '../support/runOutboxCli.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const databases: TestDatabase[] = [];
const stores: SqlStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  await Promise.all(databases.splice(0).map((db) => db.drop()));
});

async function freshDatabase(): Promise<{ db: TestDatabase; store: SqlStore }> {
  const db = await createTestDatabase(import.meta.url);
  databases.push(db);
  const store = createPgSqlStore(db.url, { maxConnections: 3, queryTimeoutMs: 60_000 });
  stores.push(store);
  return { db, store };
}

const HOUR = 3_600_000;

interface Row {
  id: string;
  status: 'pending' | 'published' | 'failed';
  createdAt: number;
  key?: string;
}

/** Outbox rows as written at `createdAt` (ids of that instant), published then unless pending. */
async function insertRows(pool: pg.Pool, rows: Row[]): Promise<void> {
  await pool.query(
    `INSERT INTO outbox_message (id, event_type, ordering_key, payload, status, created_at, available_at, published_at)
     SELECT id, 'test.anything', key, '{}', status::outbox_message_status, at, at, CASE WHEN status = 'published' THEN at END
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS r(id, key, status, at)`,
    [rows.map((row) => row.id), rows.map((row) => row.key ?? null), rows.map((row) => row.status), rows.map((row) => new Date(row.createdAt))],
  );
}

async function insertInbox(pool: pg.Pool, consumer: string, rows: { id: string; receivedAt: number }[]): Promise<void> {
  await pool.query(
    `INSERT INTO outbox_inbox (consumer, message_id, status, received_at, done_at)
     SELECT $1, id, 'done', at, at FROM unnest($2::uuid[], $3::timestamptz[]) AS r(id, at)`,
    [consumer, rows.map((row) => row.id), rows.map((row) => new Date(row.receivedAt))],
  );
}

const ids = async (pool: pg.Pool, table: string) =>
  (
    await pool.query<{ id: string }>(`SELECT ${table === 'outbox_message' ? 'id' : "consumer || '/' || message_id"}::text AS id FROM ${table} ORDER BY 1`)
  ).rows.map((row) => row.id);

const relkind = async (pool: pg.Pool, table: string) =>
  (await pool.query<{ relkind: string }>('SELECT relkind FROM pg_class WHERE oid = $1::regclass', [table])).rows[0]!.relkind;

/** Which partition holds each id. */
async function partitionOf(pool: pg.Pool, id: string): Promise<string> {
  const { rows } = await pool.query<{ partition: string }>('SELECT tableoid::regclass::text AS partition FROM outbox_message WHERE id = $1', [id]);
  return rows[0]!.partition;
}

describe('outbox partitions enable', () => {
  it('partitions a populated install keeping every row, index and the sequence; new rows go to their day', async () => {
    const { db, store } = await freshDatabase();
    const now = Date.now();
    const rows: Row[] = Array.from({ length: 300 }, (_, index) => ({
      id: newMessageId(now - index * 60_000),
      status: index % 10 === 0 ? 'pending' : index % 29 === 0 ? 'failed' : 'published',
      createdAt: now - index * 60_000,
      key: index % 3 === 0 ? `key-${index % 7}` : undefined,
    }));
    await insertRows(db.pool, rows);
    await insertInbox(
      db.pool,
      'send-email',
      rows.slice(0, 120).map((row) => ({ id: row.id, receivedAt: row.createdAt })),
    );
    const before = { outbox: await ids(db.pool, 'outbox_message'), inbox: await ids(db.pool, 'outbox_inbox') };

    const report = await enablePartitioning(store, { aheadDays: 3, lockTimeoutMs: 2_000 });

    expect(report.converted).toBe(true);
    expect(report.legacyUntil).toBe(new Date(dayStart(now) + 2 * DAY_MS).toISOString());
    expect(await relkind(db.pool, 'outbox_message')).toBe('p');
    expect(await relkind(db.pool, 'outbox_inbox')).toBe('p');
    expect({ outbox: await ids(db.pool, 'outbox_message'), inbox: await ids(db.pool, 'outbox_inbox') }).toEqual(before);
    const names = (await readPartitions(store.query)).map((partition) => `${partition.name}:${partition.kind}`);
    const firstDay = dayStart(now) + 2 * DAY_MS;
    for (const table of ['outbox_message', 'outbox_inbox']) {
      expect(names).toContain(`${table}_legacy:legacy`);
      expect(names).toContain(`${table}_default:default`);
      for (let day = 0; day < 2; day++) expect(names).toContain(`${dayPartitionName(table, firstDay + day * DAY_MS)}:day`);
    }
    // The relay's indexes are on the new table; seq is not unique any more (it cannot be), but indexed.
    const { rows: indexes } = await db.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = 'outbox_message'::regclass ORDER BY 1`,
    );
    expect(indexes.map((index) => index.name)).toEqual([
      'outbox_message_failed_idx',
      'outbox_message_key_seq_idx',
      'outbox_message_pending_due_idx',
      'outbox_message_pkey',
      'outbox_message_seq_idx',
      'outbox_message_type_created_idx',
      'outbox_message_unfinished_id_idx',
      'outbox_message_unfinished_key_idx',
      'outbox_message_writer_xid_seq_idx',
    ]);
    const { rows: sequence } = await db.pool.query("SELECT pg_get_serial_sequence('outbox_message', 'seq') AS name");
    expect(sequence[0].name).toBe('public.outbox_message_seq_seq');

    // The write API goes on: today's rows stay in the legacy partition, a later day's go to its own, an id no day covers to the default.
    const outbox = createOutbox({ events: testEvents });
    const [published] = await db.prisma.$transaction((tx) => outbox.publishMany(tx, [{ event: anything, payload: { after: 'conversion' } }]));
    expect(await partitionOf(db.pool, published!)).toBe('outbox_message_legacy');
    const later = newMessageId(firstDay + DAY_MS + HOUR);
    const random = 'f1e2d3c4-0000-4000-8000-000000000000';
    await insertRows(db.pool, [
      { id: later, status: 'pending', createdAt: now },
      { id: random, status: 'pending', createdAt: now },
    ]);
    expect(await partitionOf(db.pool, later)).toBe(dayPartitionName('outbox_message', firstDay + DAY_MS));
    expect(await partitionOf(db.pool, random)).toBe('outbox_message_default');
    const { rows: seqs } = await db.pool.query<{ seq: string }>('SELECT seq::text FROM outbox_message WHERE id = ANY($1::uuid[]) ORDER BY seq', [
      [later, random],
    ]);
    expect(new Set(seqs.map((row) => row.seq)).size).toBe(2);

    // Again: nothing to convert, nothing lost.
    const again = await enablePartitioning(store, { aheadDays: 3, lockTimeoutMs: 2_000 });
    expect(again).toMatchObject({ converted: false, legacyUntil: null, created: [] });
  });

  it('refuses rows whose ids are not time-ordered, and leaves the tables as they were', async () => {
    const { db, store } = await freshDatabase();
    await insertInbox(db.pool, 'send-email', [{ id: 'c0ffee00-0000-4000-8000-000000000000', receivedAt: Date.now() }]);

    await expect(enablePartitioning(store, { aheadDays: 3, lockTimeoutMs: 2_000 })).rejects.toMatchObject({
      code: 'OUTBOX_PARTITIONING_REFUSED',
      message: expect.stringContaining('outbox_inbox has 1 row(s) whose message_id is not a time-ordered id'),
    });
    expect(await relkind(db.pool, 'outbox_message')).toBe('r');
    expect(await relkind(db.pool, 'outbox_inbox')).toBe('r');
    const { rows } = await db.pool.query("SELECT conname FROM pg_constraint WHERE conname LIKE '%legacy_bound'");
    expect(rows).toEqual([]);
  });

  it('lets the writers go on while it converts: every insert commits, none lost', async () => {
    const { db, store } = await freshDatabase();
    await insertRows(
      db.pool,
      Array.from({ length: 2_000 }, (_, index) => ({ id: newMessageId(Date.now() - index), status: 'published' as const, createdAt: Date.now() })),
    );
    const writer = new pg.Pool({ connectionString: db.url, max: 2 });
    let written = 0;
    let writing = true;
    const failures: unknown[] = [];
    const writes = (async () => {
      while (writing) {
        try {
          await writer.query("INSERT INTO outbox_message (id, event_type, payload) VALUES ($1, 'test.anything', '{}')", [newMessageId()]);
          written += 1;
        } catch (error) {
          failures.push(error);
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await enablePartitioning(store, { aheadDays: 2, lockTimeoutMs: 2_000 });
    const writtenAtSwap = written;
    await new Promise((resolve) => setTimeout(resolve, 100));
    writing = false;
    await writes;
    await writer.end();

    expect(failures).toEqual([]);
    expect(written).toBeGreaterThan(writtenAtSwap);
    const { rows } = await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM outbox_message');
    expect(rows[0]!.count).toBe(2_000 + written);
  });
});

describe('an interrupted conversion', () => {
  it('leaves a check that would refuse writes from its bound on; removed once that is less than a day away', async () => {
    const { db, store } = await freshDatabase();
    const add = (table: string, key: string, boundMs: number) =>
      db.pool.query(`ALTER TABLE ${table} ADD CONSTRAINT ${table}_legacy_bound CHECK (${key} < '${uuidFloor(boundMs)}') NOT VALID`);
    // As a run killed between its check and its swap leaves them: one due in 12 hours, one in two days.
    await add('outbox_message', 'id', Date.now() + 12 * HOUR);
    await add('outbox_inbox', 'message_id', Date.now() + 2 * DAY_MS);
    await expect(insertRows(db.pool, [{ id: newMessageId(Date.now() + 13 * HOUR), status: 'pending', createdAt: Date.now() }])).rejects.toThrow(/legacy_bound/);

    expect(await removeLeftoverBounds(store, 1_000, DAY_MS)).toEqual(['outbox_message']);

    await insertRows(db.pool, [{ id: newMessageId(Date.now() + 13 * HOUR), status: 'pending', createdAt: Date.now() }]);
    const { rows } = await db.pool.query("SELECT conname FROM pg_constraint WHERE conname LIKE '%legacy_bound'");
    expect(rows).toEqual([{ conname: 'outbox_inbox_legacy_bound' }]);
    // Running enable again cleans up and converts.
    expect((await enablePartitioning(store, { aheadDays: 1, lockTimeoutMs: 2_000 })).converted).toBe(true);
  });
});

describe('what `outbox status` says', () => {
  it('alerts when tomorrow has no partition, notes rows in the default partition, and alerts on a leftover check', async () => {
    const { db, store } = await freshDatabase();
    const now = Date.now();
    await db.pool.query(`ALTER TABLE outbox_message ADD CONSTRAINT outbox_message_legacy_bound CHECK (id < '${uuidFloor(now + DAY_MS)}') NOT VALID`);
    expect((await readPartitionHealth(store.query)).alerts).toEqual([
      expect.stringContaining('an interrupted `outbox partitions enable` left a check on outbox_message'),
    ]);
    await db.pool.query('ALTER TABLE outbox_message DROP CONSTRAINT outbox_message_legacy_bound');
    expect(await readPartitionHealth(store.query)).toEqual({ alerts: [], notes: [] });

    // Partitioned four days ago with one day ahead: nothing covers tomorrow now, and today's rows land in the default partition.
    await enablePartitioning(store, { aheadDays: 1, lockTimeoutMs: 2_000, now: now - 4 * DAY_MS });
    await insertRows(db.pool, [{ id: newMessageId(now), status: 'pending', createdAt: now }]);
    const stale = await readPartitionHealth(store.query);
    expect(stale.alerts).toEqual([
      expect.stringContaining(`outbox_message has no partition for ${new Date(dayStart(now) + DAY_MS).toISOString().slice(0, 10)}`),
      expect.stringContaining('outbox_inbox has no partition for'),
    ]);
    expect(stale.notes).toEqual([expect.stringContaining('1 row(s) in outbox_message_default')]);
    const status = await runOutboxCli(['status', '--json'], { DATABASE_URL: db.url, AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672' });
    expect(status.code, status.stderr).toBe(3);
    expect((JSON.parse(status.stdout) as { alerts: string[] }).alerts).toEqual(expect.arrayContaining(stale.alerts));

    await createPartitionsAhead(store, { aheadDays: 7 });
    expect(await readPartitionHealth(store.query)).toEqual({ alerts: [], notes: [] });
  });
});

describe('days ahead', () => {
  it('creates the missing days only, and moves rows of a day that had none out of the default partition', async () => {
    const { db, store } = await freshDatabase();
    const now = Date.now();
    // Partitioned four days ago, with one day ahead then: today and the next days have no partition.
    await enablePartitioning(store, { aheadDays: 1, lockTimeoutMs: 2_000, now: now - 4 * DAY_MS });
    const today = newMessageId(now);
    await insertRows(db.pool, [{ id: today, status: 'pending', createdAt: now }]);
    await insertInbox(db.pool, 'send-email', [{ id: today, receivedAt: now }]);
    expect(await partitionOf(db.pool, today)).toBe('outbox_message_default');

    const created = await createPartitionsAhead(store, { aheadDays: 2 });

    const todayName = dayPartitionName('outbox_message', dayStart(now));
    expect(created.map((each) => each.name).sort()).toEqual(
      [0, 1, 2].flatMap((day) => ['outbox_message', 'outbox_inbox'].map((table) => dayPartitionName(table, dayStart(now) + day * DAY_MS))).sort(),
    );
    expect(created.find((each) => each.name === todayName)?.movedRows).toBe(1);
    expect(await partitionOf(db.pool, today)).toBe(todayName);
    const { rows } = await db.pool.query('SELECT tableoid::regclass::text AS partition FROM outbox_inbox');
    expect(rows).toEqual([{ partition: dayPartitionName('outbox_inbox', dayStart(now)) }]);
    expect(await createPartitionsAhead(store, { aheadDays: 2 })).toEqual([]);
  });
});

describe('retention by whole partitions', () => {
  const CONSUMER = 'send-email';

  /**
   * Forty days of history, partitioned from the start: days 35-33 ago all published and
   * handled, day 32 ago with one row still pending, day 31 ago with rows after the
   * consumer's watermark (owed, within a 60-day horizon), today's rows.
   */
  function history(now: number): { rows: Row[]; inbox: { id: string; receivedAt: number }[] } {
    const rows: Row[] = [];
    for (const daysAgo of [35, 34, 33, 32, 31, 0]) {
      for (let index = 0; index < 50; index++) {
        const createdAt = dayStart(now - daysAgo * DAY_MS) + HOUR + index * 60_000;
        rows.push({
          id: newMessageId(createdAt),
          status: daysAgo === 32 && index === 7 ? 'pending' : 'published',
          createdAt,
          key: index % 5 === 0 ? `k${index}` : undefined,
        });
      }
    }
    const inbox = rows.filter((row) => row.status === 'published').map((row) => ({ id: row.id, receivedAt: row.createdAt + 1_000 }));
    return { rows, inbox };
  }

  async function load(db: TestDatabase, now: number, { rows, inbox }: ReturnType<typeof history>): Promise<void> {
    await insertRows(db.pool, rows);
    await insertInbox(db.pool, CONSUMER, inbox);
    // The watermark: every row up to day 32 ago is behind it (in (writer_xid, seq) order, all rows share one xid: by seq).
    const { rows: mark } = await db.pool.query<{ xid: string; seq: string }>(
      `SELECT writer_xid::text AS xid, max(seq)::text AS seq FROM outbox_message WHERE created_at < $1 GROUP BY 1`,
      [new Date(dayStart(now - 31 * DAY_MS))],
    );
    await db.pool.query(
      `INSERT INTO outbox_consumer (name, registered_at, watermark_xid, watermark_seq) VALUES ($1, now() - interval '90 days', $2::xid8, $3::bigint)`,
      [CONSUMER, mark[0]!.xid, mark[0]!.seq],
    );
  }

  it('drops the days prune would empty, keeps the others with the reason, and leaves exactly the rows prune leaves', async () => {
    const now = Date.now();
    const databases = { plain: await freshDatabase(), partitioned: await freshDatabase() };
    await enablePartitioning(databases.partitioned.store, { aheadDays: 40, lockTimeoutMs: 2_000, now: now - 40 * DAY_MS });
    const rows = history(now);
    await load(databases.plain.db, now, rows);
    await load(databases.partitioned.db, now, rows);
    const options = { olderThanMs: 30 * DAY_MS, horizonMs: 60 * DAY_MS };

    const plain = await pruneOutbox(databases.plain.store, options);
    const partitioned = await pruneOutbox(databases.partitioned.store, options);

    for (const table of ['outbox_message', 'outbox_inbox']) {
      expect(await ids(databases.partitioned.db.pool, table), table).toEqual(await ids(databases.plain.db.pool, table));
    }
    // Days 35-33 whole, and day 32's published rows (behind the watermark) one by one.
    expect(plain).toEqual({ outboxRows: 199, inboxRows: 199 });
    expect(partitioned).toMatchObject({ outboxRows: 199, inboxRows: 199 });
    const day = (table: string, daysAgo: number) => dayPartitionName(table, dayStart(now - daysAgo * DAY_MS));
    expect(partitioned.partitions!.dropped.map((each) => each.name)).toEqual(
      expect.arrayContaining([33, 34, 35].flatMap((daysAgo) => [day('outbox_message', daysAgo), day('outbox_inbox', daysAgo)])),
    );
    expect(partitioned.partitions!.dropped.filter((each) => each.rows > 0).map((each) => each.rows)).toEqual([50, 50, 50, 50, 50, 50]);
    const kept = Object.fromEntries(partitioned.partitions!.kept.map((each) => [each.name, each.reason]));
    expect(kept[day('outbox_message', 32)]).toBe('1 row(s) not published yet (pending or failed)');
    expect(kept[day('outbox_message', 31)]).toBe("50 row(s) after a consumer's watermark and within the horizon (still owed)");
    expect(kept[day('outbox_inbox', 32)]).toBe('messages of its days are still in the outbox');
    const remaining = (await readPartitions(databases.partitioned.store.query)).map((each) => each.name);
    expect(remaining).not.toContain(day('outbox_message', 35));
    expect(remaining).toContain(day('outbox_message', 32));
    // Days never written and the emptied legacy partition went too; the recent days stay.
    expect(remaining).not.toContain('outbox_message_legacy');
    expect(remaining).toContain(day('outbox_message', 29));
  });

  it('keeps a day whose table lock stays busy (deleting its rows instead), without holding up the transaction that has it, and drops it next time', async () => {
    const now = Date.now();
    const { db, store } = await freshDatabase();
    await enablePartitioning(store, { aheadDays: 40, lockTimeoutMs: 2_000, now: now - 40 * DAY_MS });
    const old = newMessageId(now - 35 * DAY_MS);
    await insertRows(db.pool, [{ id: old, status: 'published', createdAt: now - 35 * DAY_MS }]);
    // A business transaction in progress: it wrote an outbox row and has not committed.
    const business = await db.pool.connect();
    await business.query('BEGIN');
    await business.query("INSERT INTO outbox_message (id, event_type, payload) VALUES ($1, 'test.anything', '{}')", [newMessageId()]);

    const started = performance.now();
    const busy = await pruneOutbox(store, { olderThanMs: 30 * DAY_MS, horizonMs: 7 * DAY_MS, lockTimeoutMs: 300 });
    const waited = performance.now() - started;

    const oldDay = dayPartitionName('outbox_message', dayStart(now - 35 * DAY_MS));
    expect(busy.partitions!.kept).toContainEqual({ name: oldDay, reason: expect.stringContaining("its table's lock stayed busy for 300 ms") });
    expect(busy.partitions!.dropped.filter((each) => each.table === 'outbox_message')).toEqual([]);
    // Its rows were deleted one by one instead (row locks only).
    expect(busy.outboxRows).toBe(1);
    expect(waited).toBeLessThan(60_000);
    await business.query('COMMIT');
    business.release();

    const next = await pruneOutbox(store, { olderThanMs: 30 * DAY_MS, horizonMs: 7 * DAY_MS, lockTimeoutMs: 300 });
    expect(next.partitions!.dropped).toContainEqual({ table: 'outbox_message', name: oldDay, rows: 0 });
    const { rows } = await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM outbox_message');
    expect(rows[0]!.count).toBe(1);
  });

  it('is what `outbox prune` does on partitioned tables, and `outbox partitions list` shows them', async () => {
    const now = Date.now();
    const { db, store } = await freshDatabase();
    await enablePartitioning(store, { aheadDays: 40, lockTimeoutMs: 2_000, now: now - 40 * DAY_MS });
    const old = newMessageId(now - 35 * DAY_MS + HOUR);
    await insertRows(db.pool, [{ id: old, status: 'published', createdAt: now - 35 * DAY_MS + HOUR }]);

    const listed = await runOutboxCli(['partitions', 'list', '--json'], { DATABASE_URL: db.url });
    expect(listed.code, listed.stderr).toBe(0);
    const names = (JSON.parse(listed.stdout) as { name: string }[]).map((each) => each.name);
    expect(names).toContain(dayPartitionName('outbox_message', dayStart(now - 35 * DAY_MS)));

    const pruned = await runOutboxCli(['prune', '--older-than', '30d'], { DATABASE_URL: db.url });
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toContain('pruned 1 outbox row(s) and 0 inbox row(s); dropped');
    // The row's own day: after 23:00 UTC, an hour past `now - 35 days` is the next day.
    expect(pruned.stdout).toContain(`dropped ${dayPartitionName('outbox_message', dayStart(now - 35 * DAY_MS + HOUR))} (1 rows)`);
  });

  it('`outbox partitions enable` and `create-ahead` from the command line', async () => {
    const { db } = await freshDatabase();
    const enabled = await runOutboxCli(['partitions', 'enable', '--ahead', '2d', '--json'], { DATABASE_URL: db.url });
    expect(enabled.code, enabled.stderr).toBe(0);
    expect(JSON.parse(enabled.stdout)).toMatchObject({ converted: true, created: expect.any(Array) });
    expect(await relkind(db.pool, 'outbox_message')).toBe('p');
    const ahead = await runOutboxCli(['partitions', 'create-ahead', '--ahead', '5d'], { DATABASE_URL: db.url });
    expect(ahead.code, ahead.stderr).toBe(0);
    // Today and tomorrow are the legacy partition's, enable made day 2: days 3 to 5 ahead, in both tables.
    expect(ahead.stdout).toContain(`created 6 day partition(s)`);
    expect(ahead.stdout).toContain(dayPartitionName('outbox_inbox', dayStart(Date.now()) + 5 * DAY_MS));
  });

  it('says what to run when the tables are not partitioned', async () => {
    const { db } = await freshDatabase();
    const listed = await runOutboxCli(['partitions', 'list'], { DATABASE_URL: db.url });
    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain('OUTBOX_NOT_PARTITIONED: the outbox tables are not partitioned: `outbox partitions enable` partitions them');
  });
});
