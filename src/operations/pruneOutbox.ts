// Retention: published outbox rows and inbox rows past it go, in small batches
// (short transactions, no long locks, no table-wide delete); never a row a
// consumer may still be owed.
import { raw, sqltag as sql } from '@prisma/client/runtime/client';
import { afterPosition } from '../database/owedMessages.js';
import type { QueryRows } from '../database/sqlStore.js';

export interface PruneReport {
  outboxRows: number;
  inboxRows: number;
}

/**
 * Deletes, `batchSize` at a time:
 *  - published outbox rows published before `olderThanMs` ago, and either behind
 *    every registered consumer's watermark (all done with them) or past the horizon;
 *  - inbox rows received before `olderThanMs` ago whose message is gone from the
 *    outbox (so no redelivery or reconciliation can still need them to deduplicate).
 * Parameters per batch: age, horizon, batch size.
 */
export async function pruneOutbox(query: QueryRows, options: { olderThanMs: number; horizonMs: number; batchSize?: number }): Promise<PruneReport> {
  const batchSize = options.batchSize ?? 1000;
  const report: PruneReport = { outboxRows: 0, inboxRows: 0 };
  for (;;) {
    const [row] = await query<{ deleted: number }>(sql`
      WITH doomed AS (
        SELECT m.id FROM outbox_message m
         WHERE m.status = 'published'
           AND m.published_at < now() - ${options.olderThanMs} * interval '1 millisecond'
           AND (NOT EXISTS (SELECT 1 FROM outbox_consumer c WHERE ${afterPosition(raw('(c.watermark_xid, c.watermark_seq)'))})
                OR m.created_at < now() - ${options.horizonMs} * interval '1 millisecond')
         LIMIT ${batchSize}),
      deleted AS (DELETE FROM outbox_message WHERE id IN (SELECT id FROM doomed) RETURNING 1)
      SELECT count(*)::int AS "deleted" FROM deleted`);
    report.outboxRows += row!.deleted;
    if (row!.deleted < batchSize) break;
  }
  for (;;) {
    const [row] = await query<{ deleted: number }>(sql`
      WITH doomed AS (
        SELECT i.consumer, i.message_id FROM outbox_inbox i
         WHERE i.received_at < now() - ${options.olderThanMs} * interval '1 millisecond'
           AND NOT EXISTS (SELECT 1 FROM outbox_message m WHERE m.id = i.message_id)
         LIMIT ${batchSize}),
      deleted AS (
        DELETE FROM outbox_inbox i USING doomed d WHERE i.consumer = d.consumer AND i.message_id = d.message_id RETURNING 1)
      SELECT count(*)::int AS "deleted" FROM deleted`);
    report.inboxRows += row!.deleted;
    if (row!.deleted < batchSize) break;
  }
  return report;
}
