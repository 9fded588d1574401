// A message's journey, for "is order X's email sent, and if not, why": the outbox row
// (written, published, its publish attempts) and, per consumer owed it, its inbox row
// (done, dead, retrying: attempts and last error) and the reconciler's re-publishes.
// Found by message id, ordering key or correlation id.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';

export interface JourneyConsumer {
  consumer: string;
  /**
   * Its inbox row's status (done, dead, processing: failed and retrying, or running
   * outside a transaction; ordered consumers: waiting, parked, skipped), or
   * "not-published" (the relay has not sent it yet) or "not-received" (sent, no delivery yet).
   */
  status: string;
  attempts: number;
  lastError: string | null;
  receivedAt: string | null;
  doneAt: string | null;
  /** What the reconciler re-published to this consumer: how many times, the last when. */
  rescheduled: { count: number; lastAt: string } | null;
}

export interface MessageJourney {
  id: string;
  eventType: string;
  eventVersion: number;
  orderingKey: string | null;
  correlationId: string | null;
  status: 'pending' | 'published' | 'failed';
  /** Publish attempts the broker did not confirm, and the last one's error. */
  attempts: number;
  lastError: string | null;
  createdAt: string;
  availableAt: string;
  publishedAt: string | null;
  headers: Record<string, unknown>;
  payload: unknown;
  consumers: JourneyConsumer[];
}

export interface JourneySearch {
  matchedBy: 'id' | 'orderingKey' | 'correlationId' | null;
  messages: MessageJourney[];
}

/** Who is owed what: a consumer and the event types its patterns match. */
export interface JourneyConsumerSpec {
  name: string;
  eventTypes: readonly string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** How far back a correlation id is searched (no index: the newest rows, by their time-ordered ids). */
export const CORRELATION_SEARCH_DAYS = 7;

/** The smallest UUIDv7 made at `ms`: rows with ids from it on were written since (ids are time-ordered). */
export function uuidV7LowerBound(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

interface MessageRow extends Omit<MessageJourney, 'createdAt' | 'availableAt' | 'publishedAt' | 'consumers' | 'correlationId'> {
  createdAt: Date;
  availableAt: Date;
  publishedAt: Date | null;
}

const MESSAGE_COLUMNS = sql`
  id::text AS "id", event_type AS "eventType", event_version AS "eventVersion", ordering_key AS "orderingKey",
  status::text AS "status", attempts, last_error AS "lastError", created_at AS "createdAt", available_at AS "availableAt",
  published_at AS "publishedAt", headers, payload`;

async function findMessages(query: QueryRows, search: string, limit: number): Promise<{ matchedBy: JourneySearch['matchedBy']; rows: MessageRow[] }> {
  if (UUID.test(search)) {
    const rows = await query<MessageRow>(sql`SELECT ${MESSAGE_COLUMNS} FROM outbox_message WHERE id = ${search.toLowerCase()}::uuid`);
    if (rows.length > 0) return { matchedBy: 'id', rows };
  }
  const byKey = await query<MessageRow>(sql`
    SELECT ${MESSAGE_COLUMNS} FROM outbox_message WHERE ordering_key = ${search} ORDER BY seq DESC LIMIT ${limit}`);
  if (byKey.length > 0) return { matchedBy: 'orderingKey', rows: byKey };
  const since = uuidV7LowerBound(Date.now() - CORRELATION_SEARCH_DAYS * 86_400_000);
  const byCorrelation = await query<MessageRow>(sql`
    SELECT ${MESSAGE_COLUMNS} FROM outbox_message
     WHERE id >= ${since}::uuid AND headers->>'correlationId' = ${search}
     ORDER BY id DESC LIMIT ${limit}`);
  return { matchedBy: byCorrelation.length > 0 ? 'correlationId' : null, rows: byCorrelation };
}

interface InboxRow {
  consumer: string;
  messageId: string;
  status: string;
  attempts: number;
  lastError: string | null;
  receivedAt: Date;
  doneAt: Date | null;
}

/**
 * The messages matching `search` (newest first, `limit` at most), each with what every
 * consumer owed it (or that received it) did. Parameters: search, limit, consumers.
 */
export async function findJourneys(query: QueryRows, search: string, consumers: readonly JourneyConsumerSpec[], limit = 20): Promise<JourneySearch> {
  const { matchedBy, rows } = await findMessages(query, search.trim(), limit);
  if (rows.length === 0) return { matchedBy, messages: [] };
  const ids = rows.map((row) => row.id);
  const names = consumers.map((consumer) => consumer.name);
  // By primary key: (consumer, message_id) for the inbox, (message_id, consumer) for re-publishes.
  const [inbox, reschedules] = await Promise.all([
    query<InboxRow>(sql`
      SELECT consumer, message_id::text AS "messageId", status::text AS "status", attempts, last_error AS "lastError",
             received_at AS "receivedAt", done_at AS "doneAt"
        FROM outbox_inbox WHERE consumer = ANY(${names}::varchar[]) AND message_id = ANY(${ids}::uuid[])`),
    query<{ consumer: string; messageId: string; count: number; lastAt: Date }>(sql`
      SELECT consumer, message_id::text AS "messageId", count, last_at AS "lastAt"
        FROM outbox_reschedule WHERE message_id = ANY(${ids}::uuid[])`),
  ]);
  const messages = rows.map((row): MessageJourney => {
    const headers = row.headers;
    const owed = consumers.filter(
      (consumer) => consumer.eventTypes.includes(row.eventType) || inbox.some((entry) => entry.consumer === consumer.name && entry.messageId === row.id),
    );
    return {
      ...row,
      correlationId: typeof headers.correlationId === 'string' ? headers.correlationId : null,
      createdAt: row.createdAt.toISOString(),
      availableAt: row.availableAt.toISOString(),
      publishedAt: row.publishedAt?.toISOString() ?? null,
      consumers: owed.map((consumer): JourneyConsumer => {
        const entry = inbox.find((candidate) => candidate.consumer === consumer.name && candidate.messageId === row.id);
        const rescheduled = reschedules.find((candidate) => candidate.consumer === consumer.name && candidate.messageId === row.id);
        return {
          consumer: consumer.name,
          status: entry?.status ?? (row.status === 'published' ? 'not-received' : 'not-published'),
          attempts: entry?.attempts ?? 0,
          lastError: entry?.lastError ?? null,
          receivedAt: entry?.receivedAt.toISOString() ?? null,
          doneAt: entry?.doneAt?.toISOString() ?? null,
          rescheduled: rescheduled ? { count: rescheduled.count, lastAt: rescheduled.lastAt.toISOString() } : null,
        };
      }),
    };
  });
  return { matchedBy, messages };
}
