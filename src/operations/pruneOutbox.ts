// Retention: published outbox rows and inbox rows past it go, in small batches
// (short transactions, no long locks, no table-wide delete); never a row a
// consumer may still be owed.
import { raw, sqltag as sql, type Sql } from '@prisma/client/runtime/client';
import { afterPosition } from '../database/owedMessages.js';
import { DAY_MS, isPartitioned, readPartitions, tableName } from '../database/partitionLayout.js';
import type { QueryRows, SqlStore } from '../database/sqlStore.js';
import { dropExpiredPartitions, type PartitionRetentionReport } from '../database/maintainPartitions.js';

export interface PruneReport {
  /** Rows gone, deleted one by one or with a dropped partition. */
  outboxRows: number;
  inboxRows: number;
  /** Partitioned tables only (docs/partitioning.md): the partitions dropped whole, and those kept and why. */
  partitions?: PartitionRetentionReport;
}

export interface PruneOptions {
  olderThanMs: number;
  horizonMs: number;
  batchSize?: number;
  /** Partitioned tables: how long dropping a partition may wait for the table's lock. */
  lockTimeoutMs?: number;
}

/**
 * Deletes, `batchSize` at a time:
 *  - published outbox rows published before `olderThanMs` ago, and either behind
 *    every registered consumer's watermark (all done with them) or past the horizon;
 *  - inbox rows received before `olderThanMs` ago whose message is gone from the
 *    outbox (so no redelivery or reconciliation can still need them to deduplicate).
 * Partitioned tables: partitions whose every row goes are dropped whole first; the rows
 * of the partitions that stay are deleted as above, in the partitions old enough to
 * hold any (so a prune never reads the recent days).
 */
export async function pruneOutbox(store: SqlStore, options: PruneOptions): Promise<PruneReport> {
  if (!(await isPartitioned(store.query))) {
    return {
      outboxRows: await pruneMessages(store.query, raw('outbox_message'), options),
      inboxRows: await pruneInbox(store.query, raw('outbox_inbox'), options),
    };
  }
  const partitions = await dropExpiredPartitions(store, options);
  const report: PruneReport = { outboxRows: 0, inboxRows: 0, partitions };
  // A row published (or received) before the cutoff has an id from before it, give or
  // take the writers' clock skew: a day's margin.
  const mayHoldOldRows = Date.now() - options.olderThanMs + DAY_MS;
  const old = (await readPartitions(store.query)).filter(
    (partition) => partition.kind === 'default' || partition.fromMs === null || partition.fromMs < mayHoldOldRows,
  );
  // Outbox rows first: an inbox row goes once its message is gone.
  for (const partition of old.filter((each) => each.table === 'outbox_message')) {
    report.outboxRows += await pruneMessages(store.query, tableName(partition.name), options);
  }
  for (const partition of old.filter((each) => each.table === 'outbox_inbox')) {
    report.inboxRows += await pruneInbox(store.query, tableName(partition.name), options);
  }
  for (const { table, rows } of partitions.dropped) {
    if (table === 'outbox_message') report.outboxRows += rows;
    else report.inboxRows += rows;
  }
  return report;
}

/** Parameters per batch: age, horizon, batch size. */
async function pruneMessages(query: QueryRows, table: Sql, options: PruneOptions): Promise<number> {
  const batchSize = options.batchSize ?? 1000;
  let total = 0;
  for (;;) {
    const [row] = await query<{ deleted: number }>(sql`
      WITH doomed AS (
        SELECT m.id FROM ${table} m
         WHERE m.status = 'published'
           AND m.published_at < now() - ${options.olderThanMs} * interval '1 millisecond'
           AND (NOT EXISTS (SELECT 1 FROM outbox_consumer c WHERE ${afterPosition(raw('(c.watermark_xid, c.watermark_seq)'))})
                OR m.created_at < now() - ${options.horizonMs} * interval '1 millisecond')
         LIMIT ${batchSize}),
      deleted AS (DELETE FROM ${table} WHERE id IN (SELECT id FROM doomed) RETURNING 1)
      SELECT count(*)::int AS "deleted" FROM deleted`);
    total += row!.deleted;
    if (row!.deleted < batchSize) return total;
  }
}

/** Parameters per batch: age, batch size. */
async function pruneInbox(query: QueryRows, table: Sql, options: PruneOptions): Promise<number> {
  const batchSize = options.batchSize ?? 1000;
  let total = 0;
  for (;;) {
    const [row] = await query<{ deleted: number }>(sql`
      WITH doomed AS (
        SELECT i.consumer, i.message_id FROM ${table} i
         WHERE i.received_at < now() - ${options.olderThanMs} * interval '1 millisecond'
           AND NOT EXISTS (SELECT 1 FROM outbox_message m WHERE m.id = i.message_id)
         LIMIT ${batchSize}),
      deleted AS (
        DELETE FROM ${table} i USING doomed d WHERE i.consumer = d.consumer AND i.message_id = d.message_id RETURNING 1)
      SELECT count(*)::int AS "deleted" FROM deleted`);
    total += row!.deleted;
    if (row!.deleted < batchSize) return total;
  }
}
