// What each consumer has been doing lately, from its inbox: side effects done in the
// last minutes and how long after their commit (p50, p99), how many messages are
// retrying, and the last error. Every read goes through an index: the inbox's primary
// key over the recent (time-ordered) message ids, and the partial index of failures.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';
import { uuidV7LowerBound } from './messageJourney.js';

export interface ConsumerActivity {
  consumer: string;
  /** Side effects done for messages written in the window. */
  doneInWindow: number;
  /** From an event's commit (its UUIDv7 id's time) to its side effect being handled, over the window; null: none done. */
  handledLagP50Ms: number | null;
  handledLagP99Ms: number | null;
  /** Messages whose last attempt failed and that wait for their next one. */
  retrying: number;
  lastError: { messageId: string; error: string; at: string; status: string } | null;
}

export const ACTIVITY_WINDOW_MS = 5 * 60_000;

/** The millisecond time in a UUIDv7 id, in SQL. */
const UUID_V7_MS = sql`('x' || lpad(replace(left(i.message_id::text, 13), '-', ''), 16, '0'))::bit(64)::bigint`;

/** Per consumer (in the given order). Parameters: consumers, window start id. */
export async function readConsumerActivity(query: QueryRows, consumers: readonly string[], windowMs = ACTIVITY_WINDOW_MS): Promise<ConsumerActivity[]> {
  if (consumers.length === 0) return [];
  const since = uuidV7LowerBound(Date.now() - windowMs);
  const rows = await query<Omit<ConsumerActivity, 'lastError'> & { lastError: { messageId: string; error: string; at: string; status: string } | null }>(sql`
    SELECT c.name AS "consumer",
           coalesce(done.count, 0)::int AS "doneInWindow",
           done.p50 AS "handledLagP50Ms", done.p99 AS "handledLagP99Ms",
           (SELECT count(*)::int FROM outbox_inbox i
             WHERE i.consumer = c.name AND i.status = 'processing' AND i.last_error IS NOT NULL) AS "retrying",
           (SELECT jsonb_build_object('messageId', i.message_id::text, 'error', i.last_error, 'at', i.updated_at, 'status', i.status::text)
              FROM outbox_inbox i
             WHERE i.consumer = c.name AND i.status IN ('processing', 'dead') AND i.last_error IS NOT NULL
             ORDER BY i.updated_at DESC LIMIT 1) AS "lastError"
      FROM unnest(${consumers}::varchar[]) WITH ORDINALITY AS c(name, ord)
      LEFT JOIN LATERAL (
        SELECT count(*) AS count,
               round(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms))::int AS p50,
               round(percentile_cont(0.99) WITHIN GROUP (ORDER BY lag_ms))::int AS p99
          FROM (SELECT greatest(0, extract(epoch FROM i.done_at) * 1000 - ${UUID_V7_MS}) AS lag_ms
                  FROM outbox_inbox i
                 WHERE i.consumer = c.name AND i.message_id >= ${since}::uuid AND i.status = 'done'
                   AND substr(i.message_id::text, 15, 1) = '7') AS recent) done ON true
     ORDER BY c.ord`);
  return rows;
}
