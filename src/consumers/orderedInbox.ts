// The inbox of an ordered consumer: the sequence is enforced here, in the handler's
// transaction, so order never depends on the broker's (a retry, a reconciler
// re-publish, a replay, a partition moving between workers). Each key has a row in
// outbox_ordered_key that every delivery of the key locks first: one transaction per
// key at a time, whichever worker runs it. A message whose earlier owed messages are
// not all done is held (inbox 'waiting', acknowledged) and released, in seq order, by
// the transaction that completes its predecessor. A message that fails for good parks
// its key: it and every later message of the key wait for an operator.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';
import { STORED_MESSAGE_COLUMNS, type StoredMessage } from '../database/storedMessage.js';

/** A keyed message's place, and its key's state, read when the key's row was locked. */
export interface KeyedMessage {
  orderingKey: string;
  /** Its seq (text, a bigint). */
  seq: string;
  /** Every owed message of the key up to here is done. */
  doneSeq: string;
  parkedSeq: string | null;
  /** Some message of the key is held behind an earlier one. */
  hasWaiting: boolean;
  /**
   * Its turn was decided on the spot: the key's row of the previous message of the
   * key (any type) is done, and the key is not parked. Then its receipt was recorded
   * too (`recorded`), and the key's done position moved to it.
   */
  inTurn: boolean;
  /** In turn, and recorded as done now (false: done, skipped or dead already, a duplicate). */
  recorded: boolean;
}

/**
 * One statement on the common path, as many round trips as an unordered delivery's
 * receipt: finds the message's key and seq in the outbox (the stored row is the
 * authority, not a header), locks its key's row until this transaction ends
 * (creating it for the key's first message), and, when the key's previous message
 * (of any type) is at or before the key's done position and the key is not parked,
 * moves that position to this message and records its receipt as done. If the
 * handler or the commit fails, the transaction takes both back. An upsert's update
 * waits for the row lock and then works on the row as committed, so the position it
 * compares is current. Other cases (a gap: an earlier message not done, or not owed;
 * a parked key) go to takeKeyTurn. Also bounds how long the server keeps this
 * transaction open while idle (see recordInboxReceipt). Undefined for a message
 * without a key (or whose row was pruned): handled unordered.
 * Parameters: consumer, message id, idle timeout.
 */
export async function enterKey(query: QueryRows, consumer: string, messageId: string, idleTimeoutMs: number): Promise<KeyedMessage | undefined> {
  const rows = await query<KeyedMessage>(sql`
    WITH bounded AS (SELECT set_config('idle_in_transaction_session_timeout', ${String(idleTimeoutMs)}, true)),
         message AS (
           SELECT m.seq, m.ordering_key,
                  (SELECT max(p.seq) FROM outbox_message p WHERE p.ordering_key = m.ordering_key AND p.seq < m.seq) AS prev_seq
             FROM outbox_message m, bounded
            WHERE m.id = ${messageId}::uuid AND m.ordering_key IS NOT NULL),
         locked AS (
           INSERT INTO outbox_ordered_key AS k (consumer, ordering_key, done_seq)
           SELECT ${consumer}, ordering_key, CASE WHEN prev_seq IS NULL THEN seq ELSE 0 END FROM message
           ON CONFLICT (consumer, ordering_key) DO UPDATE
              SET updated_at = now(),
                  done_seq = CASE WHEN (k.parked_seq IS NULL OR (SELECT seq FROM message) < k.parked_seq)
                                   AND coalesce((SELECT prev_seq FROM message) <= k.done_seq, true)
                                  THEN GREATEST(k.done_seq, (SELECT seq FROM message)) ELSE k.done_seq END
           RETURNING k.ordering_key, k.done_seq, k.parked_seq, k.has_waiting),
         receipt AS (
           INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts, done_at)
           SELECT ${consumer}, ${messageId}::uuid, 'done', 1, now() FROM locked, message WHERE locked.done_seq >= message.seq
           ON CONFLICT (consumer, message_id) DO UPDATE
              SET status = 'done', attempts = inbox.attempts + 1, done_at = now(), last_error = NULL, updated_at = now()
            WHERE inbox.status IN ('processing', 'waiting', 'parked')
           RETURNING 1)
    SELECT locked.ordering_key AS "orderingKey", message.seq::text AS "seq", locked.done_seq::text AS "doneSeq",
           locked.parked_seq::text AS "parkedSeq", locked.has_waiting AS "hasWaiting",
           locked.done_seq >= message.seq AS "inTurn", EXISTS (SELECT 1 FROM receipt) AS "recorded"
      FROM locked, message`);
  return rows[0];
}

export type KeyTurn =
  /** Every earlier owed message of the key is done: its receipt is recorded as done; run the handler. */
  | { turn: 'run' }
  /** Done, skipped or dead already: acknowledge. */
  | { turn: 'duplicate' }
  /** An earlier owed message is not done: held (inbox 'waiting') until it is. */
  | { turn: 'wait'; blockedBy: string }
  /** The key is parked at or before this message: recorded parked. */
  | { turn: 'parked' };

/**
 * With the key's row locked (enterKey) but its turn not decided there: whether this message may run now, and
 * its inbox row written accordingly, in one statement. Owed: of a type the consumer
 * subscribes to, written after it was registered. A dead predecessor (dead-lettered
 * before the consumer was ordered) does not block. Each inbox lookup is a scalar
 * subquery, a primary-key probe per row: as a join, a planner misled by stale
 * statistics would read the consumer's whole inbox for every delivery.
 * Parameters: consumer, message id, its key's state, the consumer's event types.
 */
export async function takeKeyTurn(
  query: QueryRows,
  consumer: string,
  messageId: string,
  message: KeyedMessage,
  eventTypes: readonly string[],
): Promise<KeyTurn> {
  if (message.parkedSeq !== null && BigInt(message.seq) >= BigInt(message.parkedSeq)) {
    const parked = await query(sql`
      INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts)
      VALUES (${consumer}, ${messageId}::uuid, 'parked', 0)
      ON CONFLICT (consumer, message_id) DO UPDATE SET status = 'parked', updated_at = now()
       WHERE inbox.status IN ('processing', 'waiting', 'parked')
      RETURNING 1`);
    return parked.length === 1 ? { turn: 'parked' } : { turn: 'duplicate' };
  }
  const [row] = await query<{ blockedBy: string | null; recorded: boolean }>(sql`
    WITH blocker AS (
           SELECT m.id FROM outbox_message m
            WHERE m.ordering_key = ${message.orderingKey} AND m.seq > ${message.doneSeq}::bigint AND m.seq < ${message.seq}::bigint
              AND m.event_type = ANY(${eventTypes}::varchar[])
              AND m.created_at >= (SELECT c.registered_at FROM outbox_consumer c WHERE c.name = ${consumer})
              AND coalesce((SELECT i.status::text FROM outbox_inbox i WHERE i.consumer = ${consumer} AND i.message_id = m.id), 'none')
                  NOT IN ('done', 'skipped', 'dead')
            ORDER BY m.seq
            LIMIT 1),
         flagged AS (
           UPDATE outbox_ordered_key SET has_waiting = true
            WHERE consumer = ${consumer} AND ordering_key = ${message.orderingKey} AND EXISTS (SELECT 1 FROM blocker)
           RETURNING 1),
         recorded AS (
           INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts, done_at)
           SELECT ${consumer}, ${messageId}::uuid, verdict.status, verdict.attempts, verdict.done_at
             FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM blocker) THEN 'waiting' ELSE 'done' END::outbox_inbox_status AS status,
                          CASE WHEN EXISTS (SELECT 1 FROM blocker) THEN 0 ELSE 1 END AS attempts,
                          CASE WHEN EXISTS (SELECT 1 FROM blocker) THEN NULL ELSE now() END AS done_at) verdict
           ON CONFLICT (consumer, message_id) DO UPDATE
              SET status = EXCLUDED.status, attempts = inbox.attempts + EXCLUDED.attempts, done_at = EXCLUDED.done_at,
                  last_error = CASE WHEN EXCLUDED.status = 'done' THEN NULL ELSE inbox.last_error END, updated_at = now()
            WHERE inbox.status IN ('processing', 'waiting', 'parked')
           RETURNING 1)
    SELECT (SELECT id::text FROM blocker) AS "blockedBy", EXISTS (SELECT 1 FROM recorded) AS "recorded"`);
  if (!row!.recorded) return { turn: 'duplicate' };
  return row!.blockedBy === null ? { turn: 'run' } : { turn: 'wait', blockedBy: row!.blockedBy };
}

/**
 * After the handler, in its transaction: the key's done position moves to this
 * message. When some are held (`hasWaiting`), those behind it are released (inbox
 * 'processing' again, so that one release is not repeated by each of them) and
 * returned in seq order, to be sent again after the commit.
 */
export async function completeKeyTurn(query: QueryRows, consumer: string, message: KeyedMessage): Promise<StoredMessage[]> {
  if (!message.hasWaiting) {
    await query(sql`
      UPDATE outbox_ordered_key SET done_seq = GREATEST(done_seq, ${message.seq}::bigint), updated_at = now()
       WHERE consumer = ${consumer} AND ordering_key = ${message.orderingKey}
      RETURNING 1`);
    return [];
  }
  return query<StoredMessage>(sql`
    WITH advanced AS (
           UPDATE outbox_ordered_key SET done_seq = GREATEST(done_seq, ${message.seq}::bigint), has_waiting = false, updated_at = now()
            WHERE consumer = ${consumer} AND ordering_key = ${message.orderingKey}
           RETURNING 1),
         released AS (
           UPDATE outbox_inbox i SET status = 'processing', updated_at = now()
            WHERE i.consumer = ${consumer} AND i.status = 'waiting'
              AND i.message_id = ANY(ARRAY(SELECT held.id FROM outbox_message held
                                            WHERE held.ordering_key = ${message.orderingKey} AND held.seq > ${message.seq}::bigint))
           RETURNING i.message_id)
    SELECT ${STORED_MESSAGE_COLUMNS} FROM outbox_message m
     WHERE m.id IN (SELECT message_id FROM released)
     ORDER BY m.seq`);
}

/**
 * The message failed for good: its key is parked at it (unless parked already; its row
 * made if it has none yet), the message marked parked with its attempts and error, then
 * the messages held behind it. Two statements, each committed: once the first is, a
 * delivery of the key finds it parked; the second, with a fresh snapshot, sees every
 * message held before.
 * Parameters: consumer, message id, key, seq, attempts, error.
 */
export async function parkKey(query: QueryRows, consumer: string, messageId: string, message: KeyedMessage, attempts: number, error: string): Promise<void> {
  // An upsert: the key's row may not exist, when the message that failed was the first of its key
  // the consumer saw (its transaction, which created the row, rolled back). Nothing before it is
  // known done then: done_seq 0.
  await query(sql`
    WITH parked AS (
           INSERT INTO outbox_ordered_key AS k (consumer, ordering_key, done_seq, parked_message_id, parked_seq, parked_at, parked_error, has_waiting)
           VALUES (${consumer}, ${message.orderingKey}, 0, ${messageId}::uuid, ${message.seq}::bigint, now(), ${error.slice(0, 2000)}, false)
           ON CONFLICT (consumer, ordering_key) DO UPDATE
              SET parked_message_id = EXCLUDED.parked_message_id, parked_seq = EXCLUDED.parked_seq, parked_at = EXCLUDED.parked_at,
                  parked_error = EXCLUDED.parked_error, has_waiting = false, updated_at = now()
            WHERE k.parked_seq IS NULL
           RETURNING 1)
    INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts, last_error)
    VALUES (${consumer}, ${messageId}::uuid, 'parked', ${attempts}, ${error.slice(0, 2000)})
    ON CONFLICT (consumer, message_id) DO UPDATE
       SET status = 'parked', attempts = GREATEST(inbox.attempts, EXCLUDED.attempts), last_error = EXCLUDED.last_error, updated_at = now()
     WHERE inbox.status IN ('processing', 'waiting')
    RETURNING 1`);
  await query(sql`
    UPDATE outbox_inbox i SET status = 'parked', updated_at = now()
     WHERE i.consumer = ${consumer} AND i.status = 'waiting'
       AND i.message_id = ANY(ARRAY(SELECT held.id FROM outbox_message held
                                     WHERE held.ordering_key = ${message.orderingKey} AND held.seq > ${message.seq}::bigint))
    RETURNING 1`);
}
