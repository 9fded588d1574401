// The inbox: one row per (consumer, message), written in the handler's own
// transaction, so a side effect's database writes and "done" commit together.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';

export type InboxStatus = 'processing' | 'done' | 'dead';

/** How much longer than its transaction's timeout the server lets a delivery's transaction sit idle (the idle timeouts below). */
export const INBOX_IDLE_MARGIN_MS = 5_000;

/**
 * Records the receipt as done, in the handler's transaction, before the handler
 * runs: if the handler or the commit fails, the transaction takes "done" back
 * with the handler's writes. The row stays locked until the transaction ends
 * (ON CONFLICT locks it even when its WHERE declines the update), so a concurrent
 * delivery of the same message waits here, then finds it done.
 * Returns true when this delivery must run the handler (a new message, or one
 * whose earlier attempts failed); false for a duplicate of done work or a dead
 * message (until replayed). One statement where a receipt, then a "mark done",
 * would be two round trips.
 * The same statement bounds how long the server keeps this transaction open while
 * idle (`idleTimeoutMs`, this transaction only): when the worker's side of the
 * connection is gone for good (half-open), the server ends the session and the
 * row lock goes with it, instead of blocking every redelivery of the message.
 * Parameters: consumer, message id, idle timeout.
 */
export async function recordInboxReceipt(query: QueryRows, consumer: string, messageId: string, idleTimeoutMs: number): Promise<boolean> {
  const rows = await query<{ run: true }>(sql`
    INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts, done_at)
    SELECT ${consumer}, ${messageId}::uuid, 'done', 1, now()
      FROM (SELECT set_config('idle_in_transaction_session_timeout', ${String(idleTimeoutMs)}, true)) AS bounded
    ON CONFLICT (consumer, message_id) DO UPDATE
       SET status = 'done', attempts = inbox.attempts + 1, done_at = now(), last_error = NULL, updated_at = now()
     WHERE inbox.status = 'processing'
    RETURNING true AS "run"`);
  return rows.length === 1;
}

/**
 * A handler outside the transaction (outsideTransaction): the attempt recorded before the
 * external call, in a statement of its own (no transaction held during the call). The row
 * stays 'processing' until completeInbox; operators see the attempt and when it started.
 * Returns false for a message already done or dead (a duplicate delivery).
 */
export async function recordInboxAttempt(query: QueryRows, consumer: string, messageId: string): Promise<boolean> {
  const rows = await query<{ run: true }>(sql`
    INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts)
    VALUES (${consumer}, ${messageId}::uuid, 'processing', 1)
    ON CONFLICT (consumer, message_id) DO UPDATE
       SET attempts = inbox.attempts + 1, updated_at = now()
     WHERE inbox.status = 'processing'
    RETURNING true AS "run"`);
  return rows.length === 1;
}

/**
 * After the external call: marks the message done in the transaction of the handler's
 * writes. The row stays locked until that transaction ends, so a concurrent delivery that
 * made the same call waits here, then finds it done. False if it was done (or dead) already.
 */
export async function completeInbox(query: QueryRows, consumer: string, messageId: string, idleTimeoutMs: number): Promise<boolean> {
  const rows = await query<{ done: true }>(sql`
    UPDATE outbox_inbox
       SET status = 'done', done_at = now(), last_error = NULL, updated_at = now()
      FROM (SELECT set_config('idle_in_transaction_session_timeout', ${String(idleTimeoutMs)}, true)) AS bounded
     WHERE consumer = ${consumer} AND message_id = ${messageId}::uuid AND status = 'processing'
    RETURNING true AS "done"`);
  return rows.length === 1;
}

/**
 * A group's receipts in one statement (batched consumers, runDeliveryGroup.ts): as
 * recordInboxReceipt, row by row. Returns the ids whose handler must run; the others
 * are duplicates of done work or dead. Rows are written in id order, so two groups
 * holding the same message (a redelivery racing its first delivery) take their row
 * locks in one order and cannot deadlock. The ids must be distinct.
 */
export async function recordInboxReceipts(query: QueryRows, consumer: string, messageIds: readonly string[], idleTimeoutMs: number): Promise<Set<string>> {
  const rows = await query<{ messageId: string }>(sql`
    INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts, done_at)
    SELECT ${consumer}, received.id, 'done', 1, now()
      FROM unnest(${messageIds}::uuid[]) AS received(id),
           (SELECT set_config('idle_in_transaction_session_timeout', ${String(idleTimeoutMs)}, true)) AS bounded
     ORDER BY received.id
    ON CONFLICT (consumer, message_id) DO UPDATE
       SET status = 'done', attempts = inbox.attempts + 1, done_at = now(), last_error = NULL, updated_at = now()
     WHERE inbox.status = 'processing'
    RETURNING message_id::text AS "messageId"`);
  return new Set(rows.map((row) => row.messageId));
}

/**
 * After a failed attempt (its transaction rolled back): keeps the attempt count
 * and error, and marks the row dead when the message went to the dead-letter
 * queue. A row already done stays done. Parameters: consumer, message id, status, attempts, error.
 */
export async function recordInboxFailure(
  query: QueryRows,
  consumer: string,
  messageId: string,
  status: 'processing' | 'dead',
  attempts: number,
  error: string,
): Promise<void> {
  await query(sql`
    INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts, last_error)
    VALUES (${consumer}, ${messageId}::uuid, ${status}::outbox_inbox_status, ${attempts}, ${error.slice(0, 2000)})
    ON CONFLICT (consumer, message_id) DO UPDATE
       SET status = CASE WHEN inbox.status = 'done' THEN inbox.status ELSE EXCLUDED.status END,
           attempts = GREATEST(inbox.attempts, EXCLUDED.attempts),
           last_error = EXCLUDED.last_error,
           updated_at = now()
    RETURNING 1`);
}

/** A dead message replayed from its DLQ: handled again from attempt 1. Parameters: consumer, message ids. */
export async function reopenInbox(query: QueryRows, consumer: string, messageIds: string[]): Promise<void> {
  if (messageIds.length === 0) return;
  await query(sql`
    UPDATE outbox_inbox SET status = 'processing', attempts = 0, done_at = NULL, updated_at = now()
     WHERE consumer = ${consumer} AND message_id = ANY(${messageIds}::uuid[]) AND status = 'dead'
    RETURNING 1`);
}
