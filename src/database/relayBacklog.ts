// The relay's backlog, as every reader asks it (the relay's summary and gauges, the
// reconciler's report, `outbox status`): one home, so they never disagree.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from './sqlStore.js';

export interface RelayBacklog {
  /** Rows waiting to be published (due or not). */
  pending: number;
  /** Age in ms of the oldest pending row that is due: the relay lag (null when none is due). */
  oldestDueMs: number | null;
  /** Pending rows due for longer than `staleAfterMs`: the relay is behind or down. */
  stale: number;
  /** Rows that reached maxPublishAttempts (retry them with retry-failed). */
  failed: number;
}

/**
 * Each figure by its own subquery, so each takes its own index (the pending-due
 * partial index for the first three). Parameters: stale-after.
 */
export async function readRelayBacklog(query: QueryRows, { staleAfterMs }: { staleAfterMs: number }): Promise<RelayBacklog> {
  const [row] = await query<RelayBacklog>(sql`
    SELECT (SELECT count(*)::int FROM outbox_message WHERE status = 'pending') AS "pending",
           (SELECT (extract(epoch FROM now() - min(available_at)) * 1000)::float8 FROM outbox_message
             WHERE status = 'pending' AND available_at <= now()) AS "oldestDueMs",
           (SELECT count(*)::int FROM outbox_message
             WHERE status = 'pending' AND available_at < now() - ${staleAfterMs} * interval '1 millisecond') AS "stale",
           (SELECT count(*)::int FROM outbox_message WHERE status = 'failed') AS "failed"`);
  return row!;
}

/**
 * Pending rows and the relay lag only (see RelayBacklog): the pending-due partial
 * index alone, cheap enough for a periodic summary and each metrics scrape. Parameters: none.
 */
export async function readPendingBacklog(query: QueryRows): Promise<Pick<RelayBacklog, 'pending' | 'oldestDueMs'>> {
  const [row] = await query<Pick<RelayBacklog, 'pending' | 'oldestDueMs'>>(sql`
    SELECT count(*)::int AS "pending",
           (extract(epoch FROM now() - min(available_at) FILTER (WHERE available_at <= now())) * 1000)::float8 AS "oldestDueMs"
      FROM outbox_message
     WHERE status = 'pending'`);
  return row!;
}
