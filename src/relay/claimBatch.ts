import { raw, type Sql, sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';
import { bySeq, STORED_MESSAGE_COLUMNS, type StoredMessage } from '../database/storedMessage.js';
import { DAY_MS, dayStart, uuidFloor, uuidMillis } from '../database/partitionLayout.js';
import type { HeadBudget } from './headBudget.js';

/**
 * Session settings of a batch transaction. The mark may be lost in a crash
 * (synchronous_commit off): that only re-publishes, which consumers deduplicate;
 * the producers' commits stay synchronous. If the relay hangs with the
 * transaction open, PostgreSQL ends it after `idleLimitMs` and the rows are free.
 * No JIT: the claim's cost estimate can cross jit_above_cost, and compiling it
 * took longer than running it (20 ms of a 27 ms claim, measured).
 * No sorts where an index gives the order: the claim must walk the pending index in
 * (available_at, seq) order and stop at its LIMIT. With statistics taken before a
 * backlog built up (fresh rows, autovacuum off or not yet run) the planner believed a
 * few pending rows and chose to fetch every one of them, probe each for its key's head
 * and sort them all: 1 s a claim at 300,000 pending rows, 3-15 s at a million, so a
 * relay behind after an outage could never catch up (bench:backlog). The only sort
 * the claim cannot avoid (the claimed rows' final order) costs the same in every plan.
 */
export async function configureBatchTransaction(query: QueryRows, idleLimitMs: number): Promise<void> {
  await query(sql`
    SELECT set_config('synchronous_commit', 'off', true),
           set_config('idle_in_transaction_session_timeout', ${String(idleLimitMs)}, true),
           set_config('jit', 'off', true),
           set_config('enable_sort', 'off', true)`);
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
 * queue). A key's run starts at its head, its first pending or failed row, and only
 * if the head is due, pending and not held by another relay (an earlier row another
 * relay has claimed still reads as pending until that relay commits, after its
 * confirms); it stops before a row that waits for a retry or is failed, and at the
 * batch's limit. So a key's rows reach the broker in write order, whichever relay
 * sends them; only a row the broker refuses or does not confirm can be overtaken by
 * later rows of its key sent in the same batch (docs/relay.md).
 * Returned in seq order.
 */
export async function claimBatch(query: QueryRows, limit: number, heads: HeadBudget, layout: ClaimLayout = PLAIN_LAYOUT): Promise<StoredMessage[]> {
  let fromId: string | undefined;
  if (layout.partitioned) {
    const [lowest] = await query<{ id: string }>(
      sql`SELECT u.id::text AS "id" FROM outbox_message u WHERE u.status IN ('pending', 'failed') ORDER BY u.id LIMIT 1`,
    );
    if (!lowest) {
      heads.record([]);
      return [];
    }
    fromId = claimLowerBound(lowest.id);
  }
  const rows = await query<StoredMessage>(claimStatement(limit, heads.next, fromId));
  heads.record(rows);
  // UPDATE ... RETURNING has no order of its own: the publish order is the write order.
  return rows.sort(bySeq);
}

export interface ClaimLayout {
  /** outbox_message is partitioned by id (docs/partitioning.md). */
  partitioned: boolean;
}
export const PLAIN_LAYOUT: ClaimLayout = { partitioned: false };

/**
 * Partitioned tables: the claim reads only the partitions from the day before the
 * oldest unfinished row's (index outbox_message_unfinished_id_idx, read just before).
 * As a parameter, the bound lets PostgreSQL leave the other partitions out of the plan
 * altogether: on 45 partitions the claim cost 2.7x the plain table's when it planned and
 * probed every one of them for every row. The day's margin covers a row committed
 * between the two statements with an id older than the oldest seen (its transaction
 * began earlier): only one open across a whole day would be missed by this claim, and
 * taken by the next one.
 */
export function claimLowerBound(lowestUnfinishedId: string): string {
  return uuidFloor(dayStart(uuidMillis(lowestUnfinishedId)) - DAY_MS);
}

/** The claim statement itself (exported for the test that checks its plan); `fromId`: the partitioned layout's lower bound. */
export function claimStatement(limit: number, headsWanted: number, fromId?: string): Sql {
  const bound = (alias: string) => (fromId === undefined ? sql`` : sql`AND ${raw(alias)}.id >= ${fromId}::uuid`);
  // Two steps. Heads: due pending rows that are unkeyed or the first unfinished row of
  // their key (a probe that stops at the first earlier pending or failed row), locked,
  // in (available_at, seq) order, as many as the loop's budget (headBudget.ts): a key's rows
  // are judged by its head, so a head that waited for a retry is not outranked by its
  // key's later rows. Runs: after each keyed
  // head, the key's following pending rows while they are due, in seq order. No other
  // relay can take those (they are not heads while the head is pending, and its head is
  // locked here). The whole claim is capped at `limit`, so a run may be cut short,
  // which keeps a prefix. "id = ANY(ARRAY(subquery))" keeps the update an index scan on
  // the primary key; as a join the planner may hash the whole table instead (seen: a
  // sequential scan per batch).
  const claimedIds = sql`
             WITH heads AS MATERIALIZED (
               SELECT c.id, c.ordering_key, c.seq, c.available_at
                 FROM outbox_message c
                WHERE c.status = 'pending'
                  AND c.available_at <= now() ${bound('c')}
                  AND (c.ordering_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM outbox_message earlier
                         WHERE earlier.ordering_key = c.ordering_key
                           AND earlier.status IN ('pending', 'failed')
                           AND earlier.seq < c.seq ${bound('earlier')}))
                ORDER BY c.available_at, c.seq
                LIMIT ${headsWanted}
                  FOR UPDATE SKIP LOCKED),
             claimed AS (
               SELECT h.id, h.available_at AS rank_at, h.seq AS rank_seq, h.seq FROM heads h
               UNION ALL
               SELECT run.id, h.available_at, h.seq, run.seq
                 FROM heads h
                 CROSS JOIN LATERAL (
                   SELECT following.id, following.seq,
                          bool_and(following.status = 'pending' AND following.available_at <= now()) OVER (ORDER BY following.seq) AS due
                     FROM outbox_message following
                    WHERE following.ordering_key = h.ordering_key AND following.status IN ('pending', 'failed') AND following.seq > h.seq ${bound('following')}
                    ORDER BY following.seq
                    LIMIT ${limit}) run
                WHERE h.ordering_key IS NOT NULL AND run.due)
             SELECT id FROM claimed ORDER BY rank_at, rank_seq, seq LIMIT ${limit}`;
  return sql`
    UPDATE outbox_message m
       SET status = 'published', published_at = now(), attempts = m.attempts + 1, last_error = NULL
     WHERE m.id = ANY(ARRAY(${claimedIds})) ${bound('m')}
    RETURNING ${STORED_MESSAGE_COLUMNS}`;
}
