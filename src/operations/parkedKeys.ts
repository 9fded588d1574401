// Operator tools for an ordered consumer's parked keys: look, retry, skip. A key is
// resumed in one transaction that holds the key's row: the parked messages are
// reopened and sent again in seq order, confirmed by the broker, before the commit.
// A delivery of the key meanwhile waits on the row, then finds the key resumed; a
// failure anywhere rolls back and leaves the key parked as it was.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { ConfirmChannel } from 'amqplib';
import { consumerEntry } from '../broker/consumerTopology.js';
import { republishToConsumer } from '../broker/republishToConsumer.js';
import { HEADER_RELEASED_AT } from '../broker/wireFormat.js';
import type { QueryRows, SqlStore } from '../database/sqlStore.js';
import { STORED_MESSAGE_COLUMNS, type StoredMessage } from '../database/storedMessage.js';
import { OutboxError } from '../errors.js';
import { createRateLimiter } from '../timing/rateLimiter.js';

export interface ParkedKeySummary {
  consumer: string;
  orderingKey: string;
  /** The message that failed for good. */
  messageId: string;
  eventType: string | null;
  parkedAt: Date;
  error: string | null;
  /** Messages of the key parked behind it (received so far). */
  waiting: number;
}

/** A consumer's parked keys (or one), oldest first. */
export function listParkedKeys(query: QueryRows, consumer: string, orderingKey?: string, limit = 1000): Promise<ParkedKeySummary[]> {
  return query<ParkedKeySummary>(sql`
    SELECT k.consumer, k.ordering_key AS "orderingKey", k.parked_message_id::text AS "messageId", m.event_type AS "eventType",
           k.parked_at AS "parkedAt", k.parked_error AS "error",
           (SELECT count(*)::int FROM outbox_message later JOIN outbox_inbox i ON i.consumer = k.consumer AND i.message_id = later.id
             WHERE later.ordering_key = k.ordering_key AND later.seq > k.parked_seq AND i.status = 'parked') AS "waiting"
      FROM outbox_ordered_key k
      LEFT JOIN outbox_message m ON m.id = k.parked_message_id
     WHERE k.consumer = ${consumer} AND k.parked_at IS NOT NULL AND (${orderingKey ?? null}::varchar IS NULL OR k.ordering_key = ${orderingKey ?? null}::varchar)
     ORDER BY k.parked_at
     LIMIT ${limit}`);
}

export interface SkipRecord {
  /** Who skipped it (recorded). */
  by: string;
  /** Why (recorded). */
  reason: string;
}

export interface ResumedKey {
  orderingKey: string;
  /** The message skipped (skip only). */
  skipped?: string;
  /** Sent again, in seq order. */
  resent: string[];
}

export interface ResumeOptions {
  store: SqlStore;
  /** A confirm channel of a connection the caller owns. */
  channel: ConfirmChannel;
  consumer: string;
  orderingKey: string;
  /** Skip the parked message (recorded) rather than retry it. */
  skip?: SkipRecord;
  appId: string;
  /** Bounds the transaction (the republish included). Default 60 s. */
  timeoutMs?: number;
}

/**
 * Resumes one parked key: retry sends the parked message and those behind it again,
 * from attempt 1; skip marks the parked message skipped (who, when, why, its error)
 * and sends those behind it.
 */
export async function resumeParkedKey(options: ResumeOptions): Promise<ResumedKey> {
  const { consumer, orderingKey, skip } = options;
  return options.store.transaction(async (query) => {
    const [key] = await query<{ messageId: string; parkedSeq: string; error: string | null }>(sql`
      SELECT parked_message_id::text AS "messageId", parked_seq::text AS "parkedSeq", parked_error AS "error"
        FROM outbox_ordered_key
       WHERE consumer = ${consumer} AND ordering_key = ${orderingKey} AND parked_seq IS NOT NULL
         FOR UPDATE`);
    if (key === undefined) throw new OutboxError('OUTBOX_NOT_PARKED', `key ${JSON.stringify(orderingKey)} of consumer ${consumer} is not parked`);
    if (skip) {
      await query(sql`
        WITH recorded AS (
               INSERT INTO outbox_skipped (consumer, message_id, ordering_key, skipped_by, reason, error)
               VALUES (${consumer}, ${key.messageId}::uuid, ${orderingKey}, ${skip.by}, ${skip.reason}, ${key.error})
               ON CONFLICT (consumer, message_id) DO UPDATE SET skipped_at = now(), skipped_by = EXCLUDED.skipped_by, reason = EXCLUDED.reason
               RETURNING 1)
        UPDATE outbox_inbox SET status = 'skipped', updated_at = now()
         WHERE consumer = ${consumer} AND message_id = ${key.messageId}::uuid
        RETURNING 1`);
    }
    // Skipped, the parked message counts as done for the sequence: its key moves past it.
    const messages = await query<StoredMessage>(sql`
      WITH resumed AS (
             UPDATE outbox_ordered_key
                SET parked_message_id = NULL, parked_seq = NULL, parked_at = NULL, parked_error = NULL, updated_at = now(),
                    done_seq = CASE WHEN ${skip !== undefined} THEN GREATEST(done_seq, parked_seq) ELSE done_seq END
              WHERE consumer = ${consumer} AND ordering_key = ${orderingKey}
             RETURNING 1),
           reopened AS (
             UPDATE outbox_inbox i SET status = 'processing', attempts = 0, updated_at = now()
               FROM outbox_message later
              WHERE i.consumer = ${consumer} AND i.message_id = later.id AND i.status = 'parked'
                AND later.ordering_key = ${orderingKey} AND later.seq >= ${key.parkedSeq}::bigint
             RETURNING i.message_id)
      SELECT ${STORED_MESSAGE_COLUMNS} FROM outbox_message m
       WHERE m.id IN (SELECT message_id FROM reopened)
       ORDER BY m.seq`);
    const marker = { header: HEADER_RELEASED_AT, value: new Date().toISOString(), appId: options.appId };
    await republishToConsumer(options.channel, consumerEntry({ name: consumer, ordered: true }), messages, marker, createRateLimiter(0));
    return { orderingKey, ...(skip ? { skipped: key.messageId } : {}), resent: messages.map((message) => message.id) };
  }, options.timeoutMs ?? 60_000);
}
