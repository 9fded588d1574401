import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from './relayStore.js';

export interface ClaimedMessage {
  id: string;
  eventType: string;
  eventVersion: number;
  orderingKey: string | null;
  /** JSON text, published as is. */
  payload: string;
  /** JSON text of the stored headers. */
  headers: string;
  createdAt: Date;
  attempts: number;
}

/**
 * Session settings of a batch transaction. The mark may be lost in a crash
 * (synchronous_commit off): that only re-publishes, which consumers deduplicate;
 * the producers' commits stay synchronous. If the relay hangs with the
 * transaction open, PostgreSQL ends it after `idleLimitMs` and the rows are free.
 */
export async function configureBatchTransaction(query: QueryRows, idleLimitMs: number): Promise<void> {
  await query(sql`
    SELECT set_config('synchronous_commit', 'off', true),
           set_config('idle_in_transaction_session_timeout', ${String(idleLimitMs)}, true)`);
}

/**
 * Claims up to `limit` due pending rows by locking them (FOR UPDATE SKIP LOCKED):
 * the lock lasts as long as the batch transaction, so a relay that dies frees its
 * rows at once, and relays running side by side never take the same row.
 *
 * Ordering: a row with an ordering key is claimed only while no earlier row of
 * its key is pending or failed; the earlier row, even locked by another relay,
 * still reads as pending until its batch commits. So at most one row per key is
 * in flight, and a key's next row waits for the previous one's confirm.
 * Parameters: limit.
 */
export function claimBatch(query: QueryRows, limit: number): Promise<ClaimedMessage[]> {
  return query<ClaimedMessage>(sql`
    SELECT m.id::text AS "id", m.event_type AS "eventType", m.event_version AS "eventVersion",
           m.ordering_key AS "orderingKey", m.payload::text AS "payload", m.headers::text AS "headers",
           m.created_at AS "createdAt", m.attempts AS "attempts"
      FROM outbox_message m
     WHERE m.status = 'pending'
       AND m.available_at <= now()
       AND (m.ordering_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM outbox_message earlier
              WHERE earlier.ordering_key = m.ordering_key
                AND earlier.status IN ('pending', 'failed')
                AND earlier.seq < m.seq))
     ORDER BY m.available_at, m.seq
     LIMIT ${limit}
       FOR UPDATE OF m SKIP LOCKED`);
}
