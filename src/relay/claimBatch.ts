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
 * Ordering: a key's due rows are claimed as a run, in seq order, and published in
 * that order on the batch's one channel (RabbitMQ keeps a channel's order into each
 * queue). A keyed row is claimed only when every earlier pending row of its key is
 * in this claim: none is held by another relay (an earlier row another relay has
 * claimed still reads as pending until that relay commits, after its confirms), none
 * is beyond the limit, none waits for a retry (available_at in the future), and no
 * earlier row of the key is failed. So a key's rows reach the broker in write order,
 * whichever relay sends them; only a row the broker refuses or does not confirm can
 * be overtaken by later rows of its key sent in the same batch (docs/relay.md).
 * Returned in seq order. Parameters: limit.
 */
/**
 * One of a relay's concurrent batch loops: keyed rows are spread over the loops by a
 * hash of their key, so that with few keys the loops do not wait on each other's runs
 * (a loop whose candidates' keys were all mid-run in another would claim nothing).
 */
export interface Lane {
  index: number;
  count: number;
}

export async function claimBatch(query: QueryRows, limit: number, lane: Lane = { index: 0, count: 1 }): Promise<StoredMessage[]> {
  // Two steps, each index work per key rather than per earlier row (a hot key's 20,000
  // pending rows must not cost 20,000 x 20,000): candidates are due pending rows whose
  // key's head (its first pending or failed row) is due and pending; then, per key, the
  // first pending or failed row that is not a candidate (the gap) bounds what is
  // claimed. "id = ANY(ARRAY(subquery))" keeps the update an index scan on the primary
  // key; as a join the planner may hash the whole table instead (seen: a sequential
  // scan per batch).
  const rows = await query<StoredMessage>(sql`
    UPDATE outbox_message m
       SET status = 'published', published_at = now(), attempts = m.attempts + 1, last_error = NULL
     WHERE m.id = ANY(ARRAY(
             WITH candidates AS MATERIALIZED (
               SELECT c.id, c.ordering_key, c.seq
                 FROM outbox_message c
                WHERE c.status = 'pending'
                  AND c.available_at <= now()
                  AND (c.ordering_key IS NULL OR ${lane.count} = 1 OR abs(hashtext(c.ordering_key)) % ${lane.count} = ${lane.index})
                  AND (c.ordering_key IS NULL OR (
                        SELECT head.status = 'pending' AND head.available_at <= now()
                          FROM outbox_message head
                         WHERE head.ordering_key = c.ordering_key AND head.status IN ('pending', 'failed')
                         ORDER BY head.seq
                         LIMIT 1))
                ORDER BY c.available_at, c.seq
                LIMIT ${limit}
                  FOR UPDATE SKIP LOCKED),
             gaps AS MATERIALIZED (
               SELECT keyed.ordering_key,
                      (SELECT min(later.seq) FROM outbox_message later
                        WHERE later.ordering_key = keyed.ordering_key AND later.status IN ('pending', 'failed')
                          AND later.id NOT IN (SELECT id FROM candidates)) AS gap
                 FROM (SELECT DISTINCT ordering_key FROM candidates WHERE ordering_key IS NOT NULL) keyed)
             SELECT c.id FROM candidates c LEFT JOIN gaps g ON g.ordering_key = c.ordering_key
              WHERE c.ordering_key IS NULL OR g.gap IS NULL OR c.seq < g.gap))
    RETURNING ${STORED_MESSAGE_COLUMNS}`);
  // UPDATE ... RETURNING has no order of its own: the publish order is the write order.
  return rows.sort((a, b) => a.seq.length - b.seq.length || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
}
