import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';
import { STORED_MESSAGE_COLUMNS, type StoredMessage } from '../database/storedMessage.js';

/**
 * Session settings of a batch transaction. The mark may be lost in a crash
 * (synchronous_commit off): that only re-publishes, which consumers deduplicate;
 * the producers' commits stay synchronous. If the relay hangs with the
 * transaction open, PostgreSQL ends it after `idleLimitMs` and the rows are free.
 * No JIT: the claim's cost estimate can cross jit_above_cost, and compiling it
 * took longer than running it (20 ms of a 27 ms claim, measured).
 */
export async function configureBatchTransaction(query: QueryRows, idleLimitMs: number): Promise<void> {
  await query(sql`
    SELECT set_config('synchronous_commit', 'off', true),
           set_config('idle_in_transaction_session_timeout', ${String(idleLimitMs)}, true),
           set_config('jit', 'off', true)`);
}

/**
 * Claims up to `limit` due pending rows and marks them published, in one
 * statement, inside the batch transaction: the row locks last as long as the
 * transaction, so relays running side by side never take the same row, and a
 * relay that dies before committing leaves its rows pending (rolled back) for the
 * next one. The mark becomes true only at commit, after the broker confirmed;
 * rows the broker did not confirm are put back in the same transaction (see
 * settleUnconfirmed). One write per row, not a lock and then an update.
 *
 * Ordering: a row with an ordering key is claimed only while no earlier row of
 * its key is pending or failed; an earlier row claimed by another relay still
 * reads as pending until that relay commits. So at most one row per key is in
 * flight, and a key's next row waits for the previous one's confirm.
 * Parameters: limit.
 */
export function claimBatch(query: QueryRows, limit: number): Promise<StoredMessage[]> {
  // "id = ANY(ARRAY(subquery))" keeps the update an index scan on the primary key;
  // as a join the planner may hash the whole table instead (seen: a sequential scan per batch).
  return query<StoredMessage>(sql`
    UPDATE outbox_message m
       SET status = 'published', published_at = now(), attempts = m.attempts + 1, last_error = NULL
     WHERE m.id = ANY(ARRAY(
             SELECT c.id
               FROM outbox_message c
              WHERE c.status = 'pending'
                AND c.available_at <= now()
                AND (c.ordering_key IS NULL OR NOT EXISTS (
                      SELECT 1 FROM outbox_message earlier
                       WHERE earlier.ordering_key = c.ordering_key
                         AND earlier.status IN ('pending', 'failed')
                         AND earlier.seq < c.seq))
              ORDER BY c.available_at, c.seq
              LIMIT ${limit}
                FOR UPDATE SKIP LOCKED))
    RETURNING ${STORED_MESSAGE_COLUMNS}`);
}
