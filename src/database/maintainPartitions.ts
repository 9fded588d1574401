// Partitions of the partitioned layout (docs/partitioning.md): days created ahead (the
// reconciler does it on every run), and retention by dropping a whole day once nothing
// in it is still needed, instead of deleting its rows one by one.
import { raw, sqltag as sql, type Sql } from '@prisma/client/runtime/client';
import { afterPosition } from './owedMessages.js';
import {
  DAY_MS,
  dayPartitionName,
  dayStart,
  defaultPartitionName,
  PARTITIONED_TABLES,
  type Partition,
  readLeftoverBounds,
  readPartitions,
  setLockTimeout,
  tableName,
  uuidLiteral,
} from './partitionLayout.js';
import type { QueryRows, SqlStore } from './sqlStore.js';

/** How long a partition change may wait for its lock: every statement on the table queues behind a waiting one. */
export const PARTITION_LOCK_TIMEOUT_MS = 2_000;

export interface PartitionsCreated {
  name: string;
  from: string;
  to: string;
  /** Rows that had landed in the default partition (ids of a day without a partition yet), moved into it. */
  movedRows: number;
}

/**
 * Creates the day partitions of both tables from today to `aheadDays` days ahead where
 * none covers the day yet. Each is built beside the table and attached, which does not
 * block writes to it; rows of that day already in the default partition move into it in
 * the same transaction. A partition whose lock is busy is left for the next call.
 */
export async function createPartitionsAhead(
  store: SqlStore,
  options: { aheadDays: number; now?: number; lockTimeoutMs?: number },
): Promise<PartitionsCreated[]> {
  const today = dayStart(options.now ?? Date.now());
  const existing = await readPartitions(store.query);
  const created: PartitionsCreated[] = [];
  for (const { table, key } of PARTITIONED_TABLES) {
    const ranges = existing.filter((partition) => partition.table === table && partition.kind !== 'default');
    if (ranges.length === 0 && !existing.some((partition) => partition.table === table)) continue; // not partitioned
    for (let day = today; day <= today + options.aheadDays * DAY_MS; day += DAY_MS) {
      const overlaps = ranges.some((range) => (range.fromMs ?? -Infinity) < day + DAY_MS && (range.toMs ?? Infinity) > day);
      if (overlaps) continue;
      const name = dayPartitionName(table, day);
      const bounds = sql`${raw(key)} >= ${uuidLiteral(day)} AND ${raw(key)} < ${uuidLiteral(day + DAY_MS)}`;
      try {
        const movedRows = await store.transaction(async (query) => {
          await query(setLockTimeout(options.lockTimeoutMs ?? PARTITION_LOCK_TIMEOUT_MS));
          await query(sql`CREATE TABLE ${tableName(name)} (LIKE ${tableName(table)} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING STORAGE)`);
          const [moved] = await query<{ count: number }>(sql`
            WITH moved AS (DELETE FROM ${tableName(defaultPartitionName(table))} WHERE ${bounds} RETURNING *),
                 inserted AS (INSERT INTO ${tableName(name)} SELECT * FROM moved RETURNING 1)
            SELECT count(*)::int AS "count" FROM inserted`);
          await query(
            sql`ALTER TABLE ${tableName(table)} ATTACH PARTITION ${tableName(name)} FOR VALUES FROM (${uuidLiteral(day)}) TO (${uuidLiteral(day + DAY_MS)})`,
          );
          return moved!.count;
        }, 5 * 60_000);
        created.push({ name, from: new Date(day).toISOString(), to: new Date(day + DAY_MS).toISOString(), movedRows });
      } catch (error) {
        if (!isLockTimeout(error)) throw error;
      }
    }
  }
  return created;
}

export interface DroppedPartition {
  table: Partition['table'];
  name: string;
  rows: number;
}

export interface KeptPartition {
  name: string;
  /** Why it stays: rows still unfinished, published too recently, owed to a consumer, inbox rows of messages still in the outbox, or its lock was busy. */
  reason: string;
}

export interface PartitionRetentionReport {
  dropped: DroppedPartition[];
  kept: KeptPartition[];
}

export interface PartitionRetentionOptions {
  olderThanMs: number;
  horizonMs: number;
  lockTimeoutMs?: number;
  now?: number;
}

/**
 * Drops the partitions (day, legacy) whose every id is older than `olderThanMs` and whose
 * every row `prune` would delete: outbox partitions first, then inbox partitions whose
 * messages are all gone from the outbox. Each partition is checked without a lock,
 * then dropped in a short transaction that takes the table's lock (waiting at most
 * `lockTimeoutMs`: a partition whose lock is busy is kept for the next run) and checks
 * again what could have changed meanwhile.
 */
export async function dropExpiredPartitions(store: SqlStore, options: PartitionRetentionOptions): Promise<PartitionRetentionReport> {
  const cutoff = (options.now ?? Date.now()) - options.olderThanMs;
  const report: PartitionRetentionReport = { dropped: [], kept: [] };
  const expired = (await readPartitions(store.query)).filter(
    (partition) => partition.kind !== 'default' && partition.toMs !== null && partition.toMs <= cutoff,
  );
  for (const partition of expired.filter((each) => each.table === 'outbox_message')) {
    const { rows, reason } = await outboxPartitionInUse(store.query, partition, options);
    if (reason) report.kept.push({ name: partition.name, reason });
    else
      await dropPartition(
        store,
        partition,
        rows,
        sql`SELECT EXISTS (SELECT 1 FROM ${tableName(partition.name)} WHERE status IN ('pending', 'failed')) AS "inUse"`,
        options,
        report,
      );
  }
  for (const partition of expired.filter((each) => each.table === 'outbox_inbox')) {
    const { rows, reason } = await inboxPartitionInUse(store.query, partition, options);
    if (reason) report.kept.push({ name: partition.name, reason });
    else await dropPartition(store, partition, rows, sql`SELECT ${messagesRemain(partition)} AS "inUse"`, options, report);
  }
  return report;
}

interface PartitionUse {
  rows: number;
  /** Why it must stay, or null. */
  reason: string | null;
}

/** An outbox partition's rows, and why it must stay: the same rule as prune's for each row (pruneOutbox.ts). */
async function outboxPartitionInUse(query: QueryRows, partition: Partition, options: PartitionRetentionOptions): Promise<PartitionUse> {
  const [counts] = await query<{ rows: number; unfinished: number; recent: number; owed: number }>(sql`
    SELECT count(*)::int AS "rows",
           count(*) FILTER (WHERE m.status <> 'published')::int AS "unfinished",
           count(*) FILTER (WHERE m.status = 'published' AND m.published_at >= now() - ${options.olderThanMs} * interval '1 millisecond')::int AS "recent",
           count(*) FILTER (WHERE m.status = 'published'
                              AND EXISTS (SELECT 1 FROM outbox_consumer c WHERE ${afterPosition(raw('(c.watermark_xid, c.watermark_seq)'))})
                              AND m.created_at >= now() - ${options.horizonMs} * interval '1 millisecond')::int AS "owed"
      FROM ${tableName(partition.name)} m`);
  const { rows, unfinished, recent, owed } = counts!;
  if (unfinished > 0) return { rows, reason: `${unfinished} row(s) not published yet (pending or failed)` };
  if (recent > 0) return { rows, reason: `${recent} row(s) published less than --older-than ago` };
  if (owed > 0) return { rows, reason: `${owed} row(s) after a consumer's watermark and within the horizon (still owed)` };
  return { rows, reason: null };
}

/** An inbox partition's rows, and why it must stay: prune's rule for inbox rows. */
async function inboxPartitionInUse(query: QueryRows, partition: Partition, options: PartitionRetentionOptions): Promise<PartitionUse> {
  const [counts] = await query<{ rows: number; recent: number; messagesRemain: boolean }>(sql`
    SELECT count(*)::int AS "rows",
           count(*) FILTER (WHERE i.received_at >= now() - ${options.olderThanMs} * interval '1 millisecond')::int AS "recent",
           ${messagesRemain(partition)} AS "messagesRemain"
      FROM ${tableName(partition.name)} i`);
  const { rows, recent, messagesRemain: remain } = counts!;
  if (remain) return { rows, reason: 'messages of its days are still in the outbox' };
  if (recent > 0) return { rows, reason: `${recent} row(s) received less than --older-than ago` };
  return { rows, reason: null };
}

/** Some outbox message has an id in the inbox partition's range (an index range scan on the outbox's primary key). */
function messagesRemain(partition: Partition): Sql {
  const from = partition.fromMs === null ? sql`` : sql`m.id >= ${uuidLiteral(partition.fromMs)} AND `;
  return sql`EXISTS (SELECT 1 FROM outbox_message m WHERE ${from}m.id < ${uuidLiteral(partition.toMs!)})`;
}

async function dropPartition(
  store: SqlStore,
  partition: Partition,
  rows: number,
  stillInUse: Sql,
  options: PartitionRetentionOptions,
  report: PartitionRetentionReport,
): Promise<void> {
  try {
    const dropped = await store.transaction(async (query) => {
      await query(setLockTimeout(options.lockTimeoutMs ?? PARTITION_LOCK_TIMEOUT_MS));
      // Dropping a partition takes the whole table's lock anyway; taken first, nothing can
      // change the partition between the last check and the drop.
      await query(sql`LOCK TABLE ${tableName(partition.table)} IN ACCESS EXCLUSIVE MODE`);
      const [check] = await query<{ inUse: boolean }>(stillInUse);
      if (check!.inUse) return false;
      await query(sql`DROP TABLE ${tableName(partition.name)}`);
      return true;
    }, 60_000);
    if (!dropped) report.kept.push({ name: partition.name, reason: 'rows still in use appeared while it was checked' });
    else report.dropped.push({ table: partition.table, name: partition.name, rows });
  } catch (error) {
    if (!isLockTimeout(error)) throw error;
    report.kept.push({
      name: partition.name,
      reason: `its table's lock stayed busy for ${options.lockTimeoutMs ?? PARTITION_LOCK_TIMEOUT_MS} ms (long transactions?): tried again next time`,
    });
  }
}

export const isLockTimeout = (error: unknown): boolean => (error as { code?: string } | undefined)?.code === '55P03';

export interface PartitionHealth {
  /** Each needs someone to act. */
  alerts: string[];
  notes: string[];
}

/**
 * For `outbox status`: on partitioned tables, a missing partition for tomorrow (the
 * reconciler is not creating days ahead: that day's rows will land in the default
 * partition) and rows in the default partitions; on plain tables, a check an interrupted
 * `outbox partitions enable` left behind, which refuses writes from its bound on.
 */
export async function readPartitionHealth(query: QueryRows, now = Date.now()): Promise<PartitionHealth> {
  const health: PartitionHealth = { alerts: [], notes: [] };
  const partitions = await readPartitions(query);
  if (partitions.length === 0) {
    const leftovers = await readLeftoverBounds(query);
    for (const { table } of leftovers) {
      health.alerts.push(
        `partitions: an interrupted \`outbox partitions enable\` left a check on ${table} that will refuse writes of later days: run it again`,
      );
    }
    return health;
  }
  const tomorrow = dayStart(now) + DAY_MS;
  for (const { table } of PARTITIONED_TABLES) {
    const covered = partitions.some(
      (each) => each.table === table && each.kind !== 'default' && (each.fromMs ?? -Infinity) <= tomorrow && (each.toMs ?? Infinity) > tomorrow,
    );
    if (!covered) {
      health.alerts.push(
        `partitions: ${table} has no partition for ${new Date(tomorrow).toISOString().slice(0, 10)}: its rows will go to the default partition; is \`outbox reconcile\` running? (\`outbox partitions create-ahead\` creates them now)`,
      );
    }
    const [inDefault] = await query<{ rows: number }>(sql`SELECT count(*)::int AS "rows" FROM ${tableName(defaultPartitionName(table))}`);
    if (inDefault!.rows > 0) {
      health.notes.push(
        `partitions: ${inDefault!.rows} row(s) in ${defaultPartitionName(table)} (ids no day partition covers: a day created late, whose rows \`create-ahead\` moves, or ids that are not time-ordered)`,
      );
    }
  }
  return health;
}
