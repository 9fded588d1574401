// `outbox partitions enable`: turns outbox_message and outbox_inbox into tables
// partitioned by day of message id, keeping every row and the tables' names, so the
// relay, the workers and the app's writes carry on across it. The existing table
// becomes the "legacy" partition (ids before tomorrow); new days get partitions of
// their own. The slow parts (a check of every row, an index build) run without
// blocking writes; the swap itself is a few catalog changes under a short lock.
import { raw, sqltag as sql } from '@prisma/client/runtime/client';
import { OutboxError } from '../errors.js';
import {
  DAY_MS,
  dayStart,
  defaultPartitionName,
  isPartitioned,
  legacyPartitionName,
  PARTITIONED_TABLES,
  type PartitionedTable,
  setLockTimeout,
  tableName,
  uuidLiteral,
  readLeftoverBounds,
} from './partitionLayout.js';
import type { QueryRows, SqlStore } from './sqlStore.js';
import { createPartitionsAhead, isLockTimeout, type PartitionsCreated } from './maintainPartitions.js';

export interface EnablePartitioningOptions {
  /** Days of partitions created ahead of today. */
  aheadDays: number;
  /** How long the swap may wait for the tables' lock before it gives up (and is tried again). */
  lockTimeoutMs: number;
  /** Attempts at the swap when the lock is busy. */
  attempts?: number;
  now?: number;
}

export interface EnablePartitioningReport {
  /** false: the tables were partitioned already; only partitions ahead were created. */
  converted: boolean;
  /** Ids before this instant stay in the legacy partitions (the tables as they were). */
  legacyUntil: string | null;
  created: PartitionsCreated[];
}

/**
 * Partitions both tables. Refuses (OUTBOX_PARTITIONING_REFUSED) when rows have ids past
 * the legacy bound (ids that are not time-ordered, e.g. an inbox row for a message
 * some other publisher sent with a random UUID): delete or prune them first.
 */
export async function enablePartitioning(store: SqlStore, options: EnablePartitioningOptions): Promise<EnablePartitioningReport> {
  const now = options.now ?? Date.now();
  if (await isPartitioned(store.query)) {
    return { converted: false, legacyUntil: null, created: await createPartitionsAhead(store, { aheadDays: options.aheadDays, now }) };
  }
  // Ids before the day after tomorrow stay in the legacy partition: the bound's check
  // (below) refuses later ids until the swap, so one left behind by an interrupted run
  // would refuse writes from then on; the margin gives a day at least to run it again
  // (or the reconciler removes it: removeLeftoverBounds).
  const legacyUntil = dayStart(now) + 2 * DAY_MS;
  try {
    for (const table of PARTITIONED_TABLES) await checkLegacyBound(store, table, legacyUntil, options.lockTimeoutMs);
    await buildIndexWithoutLock(store.query, 'outbox_message_seq_idx', raw('outbox_message (seq)'));
    await buildIndexWithoutLock(store.query, 'outbox_message_unfinished_id_idx', raw(`outbox_message (id) WHERE status IN ('pending', 'failed')`));
    await swapWithRetries(store, legacyUntil, options);
  } catch (error) {
    await removeLeftoverBounds(store, options.lockTimeoutMs).catch(() => {});
    throw error;
  }
  return {
    converted: true,
    legacyUntil: new Date(legacyUntil).toISOString(),
    created: await createPartitionsAhead(store, { aheadDays: options.aheadDays, now }),
  };
}

async function swapWithRetries(store: SqlStore, legacyUntil: number, options: EnablePartitioningOptions): Promise<void> {
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      await store.transaction(async (query) => {
        await query(setLockTimeout(options.lockTimeoutMs));
        await query(sql`LOCK TABLE outbox_message, outbox_inbox IN ACCESS EXCLUSIVE MODE`);
        for (const table of PARTITIONED_TABLES) await swapInPartitionedTable(query, table, legacyUntil);
      }, 10 * 60_000);
      return;
    } catch (error) {
      if (!isLockTimeout(error) || attempt >= attempts) throw error;
    }
  }
}

/**
 * Drops the legacy-bound checks a failed or interrupted conversion left on the
 * unpartitioned tables, which would refuse writes once ids reach the bound (with
 * `dueWithinMs`: only those that would within that time, so a conversion still running,
 * which took its bound two days ahead, keeps its shortcut). Correct at any time: a
 * conversion that loses its check only attaches the table more slowly (its rows checked
 * under the lock). Returns the tables it cleaned.
 */
export async function removeLeftoverBounds(store: SqlStore, lockTimeoutMs: number, dueWithinMs = Infinity): Promise<string[]> {
  const leftovers = (await readLeftoverBounds(store.query)).filter(({ refusesFromMs }) => refusesFromMs === null || refusesFromMs - Date.now() < dueWithinMs);
  for (const { table, constraint } of leftovers) {
    await store.transaction(async (query) => {
      await query(setLockTimeout(lockTimeoutMs));
      await query(sql`ALTER TABLE ${tableName(table)} DROP CONSTRAINT IF EXISTS ${tableName(constraint)}`);
    }, 60_000);
  }
  return leftovers.map((each) => each.table);
}

/**
 * Every row's id must fall before the legacy bound. Checked by a constraint validated
 * while writes go on (it stays enforced for new rows until the swap, then is dropped),
 * so attaching the table as a partition needs no scan under the lock.
 */
async function checkLegacyBound(store: SqlStore, { table, key }: PartitionedTable, legacyUntil: number, lockTimeoutMs: number): Promise<void> {
  const { query } = store;
  const constraint = raw(`"${table}_legacy_bound"`);
  // Adding the constraint takes the table's lock for an instant: not behind a long transaction, holding up every write.
  await store.transaction(async (locked) => {
    await locked(setLockTimeout(lockTimeoutMs));
    await locked(sql`ALTER TABLE ${tableName(table)} DROP CONSTRAINT IF EXISTS ${constraint}`);
    await locked(sql`ALTER TABLE ${tableName(table)} ADD CONSTRAINT ${constraint} CHECK (${raw(key)} < ${uuidLiteral(legacyUntil)}) NOT VALID`);
  }, 60_000);
  try {
    await query(sql`ALTER TABLE ${tableName(table)} VALIDATE CONSTRAINT ${constraint}`);
  } catch (error) {
    const [row] = await query<{ count: number }>(
      sql`SELECT count(*)::int AS "count" FROM ${tableName(table)} WHERE ${raw(key)} >= ${uuidLiteral(legacyUntil)}`,
    );
    throw new OutboxError(
      'OUTBOX_PARTITIONING_REFUSED',
      `${table} has ${row!.count} row(s) whose ${key} is not a time-ordered id before ${new Date(legacyUntil).toISOString()} ` +
        `(e.g. messages some other publisher sent with random UUIDs): delete them, or prune them with \`outbox prune\`, then enable partitioning again`,
      { cause: error },
    );
  }
}

/** An index the partitioned table will have, built on the table as it is without blocking writes, so the swap finds it ready. */
async function buildIndexWithoutLock(query: QueryRows, name: string, on: ReturnType<typeof raw>): Promise<void> {
  // A build interrupted earlier leaves an invalid index behind: rebuilt.
  const [row] = await query<{ valid: boolean | null }>(sql`
    SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(${name})) AS "valid"`);
  if (row!.valid === true) return;
  if (row!.valid === false) await query(sql`DROP INDEX CONCURRENTLY ${tableName(name)}`);
  await query(sql`CREATE INDEX CONCURRENTLY ${tableName(name)} ON ${on}`);
}

/**
 * Under the lock: the table and its indexes are renamed to *_legacy, the partitioned
 * table takes its name with the same columns, defaults, indexes and privileges, and the
 * old table is attached as the partition of every id before `legacyUntil`.
 */
async function swapInPartitionedTable(query: QueryRows, { table, key }: PartitionedTable, legacyUntil: number): Promise<void> {
  const legacy = legacyPartitionName(table);
  // The definitions as they are now, with the table's own name: replayed on the new table.
  const indexes = await query<{ name: string; definition: string; constraintDefinition: string | null; isUnique: boolean; hasKey: boolean }>(sql`
    SELECT c.relname AS "name", pg_get_indexdef(c.oid) AS "definition",
           (SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k WHERE k.conindid = c.oid AND k.contype = 'p') AS "constraintDefinition",
           x.indisunique AS "isUnique",
           EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey) AND a.attname = ${key}) AS "hasKey"
      FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
     WHERE x.indrelid = to_regclass(${table})`);
  const grants = await query<{ grantee: string; privilege: string }>(sql`
    SELECT grantee AS "grantee", privilege_type AS "privilege" FROM information_schema.role_table_grants
     WHERE table_name = ${table} AND table_schema = current_schema() AND grantee <> current_user`);
  await query(sql`ALTER TABLE ${tableName(table)} RENAME TO ${tableName(legacy)}`);
  for (const index of indexes) {
    if (index.name.startsWith(`${table}_`)) {
      await query(sql`ALTER INDEX ${tableName(index.name)} RENAME TO ${tableName(`${legacy}_${index.name.slice(table.length + 1)}`)}`);
    }
  }
  await query(sql`
    CREATE TABLE ${tableName(table)} (LIKE ${tableName(legacy)} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)
      PARTITION BY RANGE (${raw(key)})`);
  for (const index of indexes) {
    if (index.constraintDefinition) {
      await query(sql`ALTER TABLE ${tableName(table)} ADD CONSTRAINT ${tableName(index.name)} ${raw(index.constraintDefinition)}`);
    } else if (index.isUnique && !index.hasKey) {
      // outbox_message.seq: a unique index of a partitioned table must contain the
      // partition key. The sequence keeps seq unique; outbox_message_seq_idx (built
      // beforehand) keeps lookups by seq fast.
      continue;
    } else {
      await query(sql`${raw(index.definition)}`);
    }
  }
  await query(sql`ALTER TABLE ${tableName(table)} ATTACH PARTITION ${tableName(legacy)} FOR VALUES FROM (MINVALUE) TO (${uuidLiteral(legacyUntil)})`);
  await query(sql`ALTER TABLE ${tableName(legacy)} DROP CONSTRAINT ${raw(`"${table}_legacy_bound"`)}`);
  if (table === 'outbox_message') {
    // seq's sequence was owned by the old table's column: dropping the legacy partition one day must not drop it.
    const [sequence] = await query<{ name: string }>(sql`SELECT pg_get_serial_sequence(${legacy}, 'seq') AS "name"`);
    if (sequence?.name) await query(sql`${raw(`ALTER SEQUENCE ${sequence.name} OWNED BY "${table}".seq`)}`);
  }
  for (const { grantee, privilege } of grants) {
    await query(sql`${raw(`GRANT ${privilege} ON "${table}" TO "${grantee.replace(/"/g, '""')}"`)}`);
  }
  await query(sql`CREATE TABLE ${tableName(defaultPartitionName(table))} PARTITION OF ${tableName(table)} DEFAULT`);
}
