// "Owed to a consumer and not done", in one place: the reconciler's scans, its
// watermark, `outbox status`, replays and prune all ask it the same way. Fragments
// over outbox_message aliased `m`; every value in them is a bound parameter or a
// column reference the caller passes as SQL.
import { sqltag as sql, type Sql } from '@prisma/client/runtime/client';

/**
 * A consumer's watermark: a position in (writer_xid, seq) order, behind which every
 * message owed to it needs nothing more. Both as text (xid8 and bigint).
 */
export interface Watermark {
  xid: string;
  seq: string;
}

/** A watermark as SQL: a bound (xid8, bigint) pair. */
export const watermarkPosition = (watermark: Watermark): Sql => sql`(${watermark.xid}::xid8, ${watermark.seq}::bigint)`;

/** `m` lies after `position` (a watermark's SQL pair, or columns such as `(c.watermark_xid, c.watermark_seq)`): index outbox_message_writer_xid_seq_idx. */
export const afterPosition = (position: Sql): Sql => sql`(m.writer_xid, m.seq) > ${position}`;

/**
 * `m` is owed to the consumer: of a type its patterns match, written after its
 * registration, newer than the horizon. Published or not.
 */
export const owedTo = (owed: { eventTypes: Sql; registeredAt: Sql; horizonMs: number }): Sql =>
  sql`m.event_type = ANY(${owed.eventTypes}) AND m.created_at >= ${owed.registeredAt} AND m.created_at > now() - ${owed.horizonMs} * interval '1 millisecond'`;

/**
 * The consumer needs nothing more of `m` that a re-publish would give: its inbox row
 * is done or dead, or, for an ordered consumer, skipped, parked (an operator resumes
 * a parked key) or held ('waiting': the transaction that completes its predecessor
 * sends it again; sent now, it would only be held again, so it is the unfinished
 * predecessor, which holds the watermark back, that the reconciler re-sends).
 */
export const finishedBy = (consumer: Sql): Sql =>
  sql`EXISTS (SELECT 1 FROM outbox_inbox i WHERE i.consumer = ${consumer} AND i.message_id = m.id AND i.status IN ('done', 'dead', 'skipped', 'parked', 'waiting'))`;

/** The consumer has received `m` at all (any inbox row: done, dead, or failed and retrying). */
export const receivedBy = (consumer: Sql): Sql => sql`EXISTS (SELECT 1 FROM outbox_inbox i WHERE i.consumer = ${consumer} AND i.message_id = m.id)`;

/** `m` was written less than `graceMs` ago: it may still be on its way, not judged yet. */
export const withinGrace = (graceMs: number): Sql => sql`m.created_at >= now() - ${graceMs} * interval '1 millisecond'`;

/**
 * Every transaction with a smaller id has ended (committed or not): rows written by
 * them are all visible to this statement, and none can appear later.
 */
export const SETTLED_XID: Sql = sql`pg_snapshot_xmin(pg_current_snapshot())`;
