// The reconciler's questions to the database, per consumer. Every scan starts at
// the consumer's watermark, so its cost follows the work still undone (plus what
// arrived since the last run), not the size of the table.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { ClaimedMessage } from '../relay/claimBatch.js';
import type { QueryRows } from '../database/sqlStore.js';

export interface ConsumerRecord {
  name: string;
  registeredAt: Date;
  /** Text: a bigint. */
  watermarkSeq: string;
}

export interface BacklogWindow {
  consumer: string;
  /** Event types the consumer's patterns match. */
  eventTypes: string[];
  graceMs: number;
  horizonMs: number;
}

export function readConsumers(query: QueryRows, names: string[]): Promise<ConsumerRecord[]> {
  return query<ConsumerRecord>(sql`
    SELECT name, registered_at AS "registeredAt", watermark_seq::text AS "watermarkSeq"
      FROM outbox_consumer WHERE name = ANY(${names}::varchar[]) ORDER BY name`);
}

/**
 * Published messages owed to the consumer and not done (nor dead) in its inbox:
 * after its watermark and its registration, older than the grace period, newer
 * than the horizon. Parameters: consumer, types, registration, watermark, grace, horizon, limit.
 */
export function findUndoneMessages(query: QueryRows, record: ConsumerRecord, window: BacklogWindow, limit: number): Promise<(ClaimedMessage & { seq: string })[]> {
  return query(sql`
    SELECT m.id::text AS "id", m.seq::text AS "seq", m.event_type AS "eventType", m.event_version AS "eventVersion",
           m.ordering_key AS "orderingKey", m.payload::text AS "payload", m.headers::text AS "headers",
           m.created_at AS "createdAt", m.attempts AS "attempts"
      FROM outbox_message m
     WHERE m.seq > ${record.watermarkSeq}::bigint
       AND m.status = 'published'
       AND m.event_type = ANY(${window.eventTypes}::varchar[])
       AND m.created_at >= ${record.registeredAt}::timestamptz
       AND m.created_at < now() - ${window.graceMs} * interval '1 millisecond'
       AND m.created_at > now() - ${window.horizonMs} * interval '1 millisecond'
       AND NOT EXISTS (SELECT 1 FROM outbox_inbox i
                        WHERE i.consumer = ${window.consumer} AND i.message_id = m.id AND i.status IN ('done', 'dead'))
     ORDER BY m.seq
     LIMIT ${limit}`);
}

/**
 * Moves the watermark over every message after it that needs nothing more from
 * this consumer: stops before the first one that is owed and undone, or too young
 * to judge (within the grace period: it may still be on its way), or not yet
 * published. Returns how many rows were looked at and the new watermark.
 * Parameters: consumer, types, registration, watermark, grace, horizon.
 */
export async function advanceWatermark(query: QueryRows, record: ConsumerRecord, window: BacklogWindow): Promise<{ scanned: number; watermarkSeq: string }> {
  const [row] = await query<{ scanned: number; watermarkSeq: string }>(sql`
    WITH after_watermark AS (
      SELECT m.seq,
             m.created_at >= now() - ${window.graceMs} * interval '1 millisecond'
             OR (m.event_type = ANY(${window.eventTypes}::varchar[])
                 AND m.created_at >= ${record.registeredAt}::timestamptz
                 AND m.created_at > now() - ${window.horizonMs} * interval '1 millisecond'
                 AND NOT (m.status = 'published' AND EXISTS (
                       SELECT 1 FROM outbox_inbox i
                        WHERE i.consumer = ${window.consumer} AND i.message_id = m.id AND i.status IN ('done', 'dead')))) AS blocks
        FROM outbox_message m
       WHERE m.seq > ${record.watermarkSeq}::bigint),
    moved AS (
      UPDATE outbox_consumer
         SET watermark_seq = COALESCE((SELECT min(seq) - 1 FROM after_watermark WHERE blocks),
                                      (SELECT max(seq) FROM after_watermark),
                                      watermark_seq),
             reconciled_at = now()
       WHERE name = ${window.consumer}
      RETURNING watermark_seq)
    SELECT (SELECT count(*)::int FROM after_watermark) AS "scanned", (SELECT watermark_seq::text FROM moved) AS "watermarkSeq"`);
  return row!;
}
