// The reconciler's questions to the database, per consumer. Every scan starts at
// the consumer's watermark, so its cost follows the work still undone (plus what
// arrived since the last run), not the size of the table.
import type { ConsumerEntry } from '../broker/consumerTopology.js';
import { sqltag as sql } from '@prisma/client/runtime/client';
import { afterPosition, finishedBy, owedTo, receivedBy, SETTLED_XID, watermarkPosition, withinGrace, type Watermark } from '../database/owedMessages.js';
import type { QueryRows } from '../database/sqlStore.js';
import { STORED_MESSAGE_COLUMNS, type StoredMessage } from '../database/storedMessage.js';

export interface ConsumerRecord {
  name: string;
  registeredAt: Date;
  watermark: Watermark;
}

export interface BacklogWindow {
  consumer: string;
  /** Where a message for this consumer alone is re-published. */
  entry: ConsumerEntry;
  /** The queues it consumes (an ordered consumer's partitions). */
  queues: string[];
  /** An ordered consumer: a key's messages are re-published in seq order. */
  ordered: boolean;
  /** Event types the consumer's patterns match. */
  eventTypes: string[];
  graceMs: number;
  horizonMs: number;
}

export async function readConsumers(query: QueryRows, names: string[]): Promise<ConsumerRecord[]> {
  const rows = await query<{ name: string; registeredAt: Date; watermarkXid: string; watermarkSeq: string }>(sql`
    SELECT name, registered_at AS "registeredAt", watermark_xid::text AS "watermarkXid", watermark_seq::text AS "watermarkSeq"
      FROM outbox_consumer WHERE name = ANY(${names}::varchar[]) ORDER BY name`);
  return rows.map(({ watermarkXid, watermarkSeq, ...row }) => ({ ...row, watermark: { xid: watermarkXid, seq: watermarkSeq } }));
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

const owedBy = (record: ConsumerRecord, window: BacklogWindow) =>
  owedTo({ eventTypes: sql`${window.eventTypes}::varchar[]`, registeredAt: sql`${record.registeredAt}::timestamptz`, horizonMs: window.horizonMs });

/**
 * Published messages owed to the consumer and not done (nor dead) in its inbox:
 * after its watermark, older than the grace period; not re-published by an earlier
 * run whose back-off still runs (outbox_reschedule.next_at); narrowed by `pick`,
 * oldest first.
 * Parameters: watermark, consumer, types, registration, horizon, grace, lost-before, limit.
 */
export function findUndoneMessages(
  query: QueryRows,
  record: ConsumerRecord,
  window: BacklogWindow,
  limit: number,
  pick: ReschedulePick = {},
): Promise<StoredMessage[]> {
  const lostBefore = pick.lostBefore ?? null;
  const consumer = sql`${window.consumer}`;
  return query(sql`
    SELECT ${STORED_MESSAGE_COLUMNS}
      FROM outbox_message m
     WHERE ${afterPosition(watermarkPosition(record.watermark))}
       AND m.status = 'published'
       AND ${owedBy(record, window)}
       AND NOT ${withinGrace(window.graceMs)}
       AND NOT ${finishedBy(consumer)}
       AND NOT EXISTS (SELECT 1 FROM outbox_reschedule r
                        WHERE r.consumer = ${window.consumer} AND r.message_id = m.id AND r.next_at > now())
       AND (${lostBefore}::timestamptz IS NULL
            OR (m.published_at < ${lostBefore}::timestamptz AND NOT ${receivedBy(consumer)}))
     ORDER BY m.writer_xid, m.seq
     LIMIT ${limit}`);
}

/**
 * The latest first-publish time among the messages after the watermark that the
 * consumer has received (any inbox row: done, dead, or failed and retrying); null
 * when it received none of them. Its queue delivered that message, so everything
 * enqueued well before it has left the queue. Parameters: watermark, consumer.
 */
export async function readDeliveryFrontier(query: QueryRows, consumer: string, watermark: Watermark): Promise<Date | null> {
  const [row] = await query<{ frontier: Date | null }>(sql`
    SELECT max(m.published_at) AS "frontier"
      FROM outbox_message m
     WHERE ${afterPosition(watermarkPosition(watermark))}
       AND m.status = 'published'
       AND ${receivedBy(sql`${consumer}`)}`);
  return row?.frontier ?? null;
}

/**
 * Moves the watermark, in (writer_xid, seq) order, over every message after it
 * that needs nothing more from this consumer. It stops before the first one that is
 * owed and undone, or too young to judge (within the grace period: it may still be
 * on its way), or not yet published; and before the first row of a transaction
 * that a transaction still running may precede: a transaction that commits late,
 * however long it ran, lands after the watermark, never behind it.
 * Returns how many rows were looked at and the new watermark.
 * Parameters: watermark, consumer, types, registration, horizon, grace.
 */
export async function advanceWatermark(query: QueryRows, record: ConsumerRecord, window: BacklogWindow): Promise<{ scanned: number; watermark: Watermark }> {
  const [row] = await query<{ scanned: number; watermarkXid: string; watermarkSeq: string }>(sql`
    WITH after_watermark AS (
      SELECT m.writer_xid, m.seq,
             ${withinGrace(window.graceMs)}
             OR (${owedBy(record, window)} AND NOT (m.status = 'published' AND ${finishedBy(sql`${window.consumer}`)})) AS blocks
        FROM outbox_message m
       WHERE ${afterPosition(watermarkPosition(record.watermark))}
         AND m.writer_xid < ${SETTLED_XID}),
    first_block AS (
      SELECT writer_xid, seq FROM after_watermark WHERE blocks ORDER BY writer_xid, seq LIMIT 1),
    passed AS (
      SELECT a.writer_xid, a.seq FROM after_watermark a LEFT JOIN first_block f ON true
       WHERE f.seq IS NULL OR (a.writer_xid, a.seq) < (f.writer_xid, f.seq)
       ORDER BY a.writer_xid DESC, a.seq DESC LIMIT 1),
    moved AS (
      UPDATE outbox_consumer
         SET watermark_xid = COALESCE((SELECT writer_xid FROM passed), watermark_xid),
             watermark_seq = COALESCE((SELECT seq FROM passed), watermark_seq),
             reconciled_at = now()
       WHERE name = ${window.consumer}
      RETURNING watermark_xid, watermark_seq)
    SELECT (SELECT count(*)::int FROM after_watermark) AS "scanned",
           (SELECT watermark_xid::text FROM moved) AS "watermarkXid", (SELECT watermark_seq::text FROM moved) AS "watermarkSeq"`);
  return { scanned: row!.scanned, watermark: { xid: row!.watermarkXid, seq: row!.watermarkSeq } };
}

/**
 * When the oldest owed message after the watermark that the consumer has not done
 * (published or not yet) was written, older than the grace period; null when there
 * is none. The watermark stops before the first such message, so this reads only
 * what advanceWatermark just read. Parameters: watermark, consumer, types,
 * registration, horizon, grace.
 */
export async function readOldestNotDone(query: QueryRows, record: ConsumerRecord, window: BacklogWindow): Promise<Date | null> {
  const [row] = await query<{ oldest: Date | null }>(sql`
    SELECT min(m.created_at) AS "oldest"
      FROM outbox_message m
     WHERE ${afterPosition(watermarkPosition(record.watermark))}
       AND ${owedBy(record, window)}
       AND NOT ${withinGrace(window.graceMs)}
       AND NOT (m.status = 'published' AND ${finishedBy(sql`${window.consumer}`)})`);
  return row?.oldest ?? null;
}
