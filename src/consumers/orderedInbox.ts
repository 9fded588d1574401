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

/** A keyed message's place: its key, its seq (text, a bigint). */
export interface KeyedMessage {
  orderingKey: string;
  seq: string;
}

/**
 * Finds the message's key and seq in the outbox (the stored row is the authority, not
 * a header), creating its key's row if it is the first, and bounds how long the
 * server keeps this transaction open while idle (see recordInboxReceipt). Undefined
 * for a message without a key (or whose row was pruned): handled unordered.
 * Parameters: consumer, message id, idle timeout.
 */
export async function findKeyedMessage(query: QueryRows, consumer: string, messageId: string, idleTimeoutMs: number): Promise<KeyedMessage | undefined> {
  const rows = await query<KeyedMessage>(sql`
    WITH bounded AS (SELECT set_config('idle_in_transaction_session_timeout', ${String(idleTimeoutMs)}, true)),
         message AS (SELECT m.seq, m.ordering_key FROM outbox_message m, bounded WHERE m.id = ${messageId}::uuid AND m.ordering_key IS NOT NULL),
         created AS (INSERT INTO outbox_ordered_key (consumer, ordering_key) SELECT ${consumer}, ordering_key FROM message ON CONFLICT DO NOTHING RETURNING 1)
    SELECT message.ordering_key AS "orderingKey", message.seq::text AS "seq" FROM message`);
  return rows[0];
}

export type KeyTurn =
  /** Every earlier owed message of the key is done: run the handler. */
  | { turn: 'run' }
  /** Done, skipped or dead already: acknowledge. */
  | { turn: 'duplicate' }
  /** An earlier owed message is not done: held until it is. */
  | { turn: 'wait'; blockedBy: string }
  /** The key is parked at or before this message. */
  | { turn: 'parked' };

/**
 * Locks the key's row (until this transaction ends) and decides whether this message
 * may run now. Owed: of a type the consumer subscribes to, written after it was
 * registered. A dead predecessor (dead-lettered before the consumer was ordered) does
 * not block. Parameters: consumer, message id, key, seq, the consumer's event types.
 */
export async function takeKeyTurn(
  query: QueryRows,
  consumer: string,
  messageId: string,
  message: KeyedMessage,
  eventTypes: readonly string[],
): Promise<KeyTurn> {
  const [key] = await query<{ doneSeq: string; parkedSeq: string | null; status: string | null }>(sql`
    SELECT k.done_seq::text AS "doneSeq", k.parked_seq::text AS "parkedSeq",
           (SELECT i.status::text FROM outbox_inbox i WHERE i.consumer = k.consumer AND i.message_id = ${messageId}::uuid) AS "status"
      FROM outbox_ordered_key k
     WHERE k.consumer = ${consumer} AND k.ordering_key = ${message.orderingKey}
       FOR UPDATE`);
  if (key === undefined) throw new Error(`ordering key row of ${consumer} missing for message ${messageId}`);
  if (key.status === 'done' || key.status === 'skipped' || key.status === 'dead') return { turn: 'duplicate' };
  if (key.parkedSeq !== null && BigInt(message.seq) >= BigInt(key.parkedSeq)) {
    await recordOrderedStatus(query, consumer, messageId, 'parked');
    return { turn: 'parked' };
  }
  const [blocker] = await query<{ id: string }>(sql`
    SELECT m.id::text AS "id" FROM outbox_message m
     WHERE m.ordering_key = ${message.orderingKey} AND m.seq > ${key.doneSeq}::bigint AND m.seq < ${message.seq}::bigint
       AND m.event_type = ANY(${eventTypes}::varchar[])
       AND m.created_at >= (SELECT c.registered_at FROM outbox_consumer c WHERE c.name = ${consumer})
       AND NOT EXISTS (SELECT 1 FROM outbox_inbox i WHERE i.consumer = ${consumer} AND i.message_id = m.id AND i.status IN ('done', 'skipped', 'dead'))
     ORDER BY m.seq
     LIMIT 1`);
  if (blocker === undefined) return { turn: 'run' };
  await recordOrderedStatus(query, consumer, messageId, 'waiting');
  return { turn: 'wait', blockedBy: blocker.id };
}

/** Holds or parks a message that has not run (a row done meanwhile stays done). */
async function recordOrderedStatus(query: QueryRows, consumer: string, messageId: string, status: 'waiting' | 'parked'): Promise<void> {
  await query(sql`
    INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts)
    VALUES (${consumer}, ${messageId}::uuid, ${status}::outbox_inbox_status, 0)
    ON CONFLICT (consumer, message_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()
     WHERE inbox.status IN ('processing', 'waiting', 'parked')
    RETURNING 1`);
}

/** Records the receipt as done before the handler runs (as recordInboxReceipt does), from any not-finished state. */
export async function recordOrderedReceipt(query: QueryRows, consumer: string, messageId: string): Promise<void> {
  await query(sql`
    INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts, done_at)
    VALUES (${consumer}, ${messageId}::uuid, 'done', 1, now())
    ON CONFLICT (consumer, message_id) DO UPDATE
       SET status = 'done', attempts = inbox.attempts + 1, done_at = now(), last_error = NULL, updated_at = now()
     WHERE inbox.status IN ('processing', 'waiting', 'parked')
    RETURNING 1`);
}

/**
 * After the handler, in its transaction: the key's done position moves to this
 * message, and the messages held behind it are released (inbox 'processing' again,
 * so that one release is not repeated by each of them) and returned in seq order,
 * to be sent again after the commit. Parameters: consumer, key, seq.
 */
export function completeKeyTurn(query: QueryRows, consumer: string, message: KeyedMessage): Promise<StoredMessage[]> {
  return query<StoredMessage>(sql`
    WITH advanced AS (
           UPDATE outbox_ordered_key SET done_seq = GREATEST(done_seq, ${message.seq}::bigint), updated_at = now()
            WHERE consumer = ${consumer} AND ordering_key = ${message.orderingKey}
           RETURNING 1),
         released AS (
           UPDATE outbox_inbox i SET status = 'processing', updated_at = now()
             FROM outbox_message held
            WHERE i.consumer = ${consumer} AND i.message_id = held.id AND i.status = 'waiting'
              AND held.ordering_key = ${message.orderingKey} AND held.seq > ${message.seq}::bigint
           RETURNING i.message_id)
    SELECT ${STORED_MESSAGE_COLUMNS} FROM outbox_message m
     WHERE m.id IN (SELECT message_id FROM released)
     ORDER BY m.seq`);
}

/**
 * The message failed for good: its key is parked at it (unless parked already), the
 * message marked parked with its attempts and error, then the messages held behind
 * it. Two statements, each committed: once the first is, a delivery of the key finds
 * it parked; the second, with a fresh snapshot, sees every message held before.
 * Parameters: consumer, message id, key, seq, attempts, error.
 */
export async function parkKey(query: QueryRows, consumer: string, messageId: string, message: KeyedMessage, attempts: number, error: string): Promise<void> {
  await query(sql`
    WITH parked AS (
           UPDATE outbox_ordered_key
              SET parked_message_id = ${messageId}::uuid, parked_seq = ${message.seq}::bigint, parked_at = now(),
                  parked_error = ${error.slice(0, 2000)}, updated_at = now()
            WHERE consumer = ${consumer} AND ordering_key = ${message.orderingKey} AND parked_seq IS NULL
           RETURNING 1)
    INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts, last_error)
    VALUES (${consumer}, ${messageId}::uuid, 'parked', ${attempts}, ${error.slice(0, 2000)})
    ON CONFLICT (consumer, message_id) DO UPDATE
       SET status = 'parked', attempts = GREATEST(inbox.attempts, EXCLUDED.attempts), last_error = EXCLUDED.last_error, updated_at = now()
     WHERE inbox.status IN ('processing', 'waiting')
    RETURNING 1`);
  await query(sql`
    UPDATE outbox_inbox i SET status = 'parked', updated_at = now()
      FROM outbox_message held
     WHERE i.consumer = ${consumer} AND i.message_id = held.id AND i.status = 'waiting'
       AND held.ordering_key = ${message.orderingKey} AND held.seq > ${message.seq}::bigint
    RETURNING 1`);
}
