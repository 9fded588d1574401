// The inbox: one row per (consumer, message), written in the handler's own
// transaction, so a side effect's database writes and "done" commit together.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../relay/relayStore.js';

export type InboxStatus = 'processing' | 'done' | 'dead';

/**
 * Records the receipt and locks the row for the transaction: a concurrent
 * delivery of the same message waits here until this one commits, then reads
 * "done". Returns the status before this delivery ("processing" when new).
 * Parameters: consumer, message id.
 */
export async function recordInboxReceipt(query: QueryRows, consumer: string, messageId: string): Promise<InboxStatus> {
  const [row] = await query<{ status: InboxStatus }>(sql`
    INSERT INTO outbox_inbox AS inbox (consumer, message_id, status, attempts)
    VALUES (${consumer}, ${messageId}::uuid, 'processing', 1)
    ON CONFLICT (consumer, message_id) DO UPDATE
       SET attempts = CASE WHEN inbox.status = 'processing' THEN inbox.attempts + 1 ELSE inbox.attempts END,
           updated_at = now()
    RETURNING status::text AS "status"`);
  return row!.status;
}

/** The handler's work committed with this. Parameters: consumer, message id. */
export async function markInboxDone(query: QueryRows, consumer: string, messageId: string): Promise<void> {
  await query(sql`
    UPDATE outbox_inbox SET status = 'done', done_at = now(), updated_at = now(), last_error = NULL
     WHERE consumer = ${consumer} AND message_id = ${messageId}::uuid
    RETURNING 1`);
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
