// An outbox row as everything that publishes it reads it (the relay's claim, the
// reconciler's re-publishes, replays): one type, one column list.
import { raw } from '@prisma/client/runtime/client';

export interface StoredMessage {
  id: string;
  /** Insertion order, as text (a bigint). */
  seq: string;
  eventType: string;
  eventVersion: number;
  orderingKey: string | null;
  /** JSON text, published as is. */
  payload: string;
  /** JSON text of the stored headers. */
  headers: string;
  createdAt: Date;
  /** Publish attempts so far (including the one being made, for a claimed row). */
  attempts: number;
}

/** The columns of a StoredMessage, for a SELECT or RETURNING on outbox_message aliased `m`. */
export const STORED_MESSAGE_COLUMNS = raw(`m.id::text AS "id", m.seq::text AS "seq", m.event_type AS "eventType", m.event_version AS "eventVersion",
       m.ordering_key AS "orderingKey", m.payload::text AS "payload", m.headers::text AS "headers",
       m.created_at AS "createdAt", m.attempts AS "attempts"`);

/** Write order, for rows an UPDATE ... RETURNING gave back in none: seq is a bigint as text. */
export const bySeq = (a: Pick<StoredMessage, 'seq'>, b: Pick<StoredMessage, 'seq'>): number =>
  a.seq.length - b.seq.length || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0);
