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
 * Which owed messages a run may re-publish. `lostBefore` undefined: any (the
 * consumer's queue is empty, so none of them is waiting there). Set: only those the
 * consumer never received at all (no inbox row) and first published before it: its
 * queue has since delivered a message enqueued after them, so they are not in it.
 */
export interface ReschedulePick {
  lostBefore?: Date;
}

/**
 * Published messages owed to the consumer and not done (nor dead) in its inbox:
 * after its watermark and its registration, older than the grace period, newer
 * than the horizon; not re-published by an earlier run whose back-off still runs
 * (outbox_reschedule.next_at); narrowed by `pick`, oldest first.
 * Parameters: consumer, types, registration, watermark, grace, horizon, lost-before, limit.
 */
export function findUndoneMessages(
  query: QueryRows,
  record: ConsumerRecord,
  window: BacklogWindow,
  limit: number,
  pick: ReschedulePick = {},
): Promise<(ClaimedMessage & { seq: string })[]> {
  const lostBefore = pick.lostBefore ?? null;
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
       AND NOT EXISTS (SELECT 1 FROM outbox_reschedule r
                        WHERE r.consumer = ${window.consumer} AND r.message_id = m.id AND r.next_at > now())
       AND (${lostBefore}::timestamptz IS NULL
            OR (m.published_at < ${lostBefore}::timestamptz
                AND NOT EXISTS (SELECT 1 FROM outbox_inbox i WHERE i.consumer = ${window.consumer} AND i.message_id = m.id)))
     ORDER BY m.seq
     LIMIT ${limit}`);
}

/**
 * The latest first-publish time among the messages after the watermark that the
 * consumer has received (any inbox row: done, dead, or failed and retrying); null
 * when it received none of them. Its queue delivered that message, so everything
 * enqueued well before it has left the queue. Parameters: consumer, watermark.
 */
export async function readDeliveryFrontier(query: QueryRows, consumer: string, watermarkSeq: string): Promise<Date | null> {
  const [row] = await query<{ frontier: Date | null }>(sql`
    SELECT max(m.published_at) AS "frontier"
      FROM outbox_message m
     WHERE m.seq > ${watermarkSeq}::bigint
       AND m.status = 'published'
       AND EXISTS (SELECT 1 FROM outbox_inbox i WHERE i.consumer = ${consumer} AND i.message_id = m.id)`);
  return row?.frontier ?? null;
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
