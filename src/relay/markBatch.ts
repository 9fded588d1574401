import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from './relayStore.js';

/** Marks confirmed rows published, in one statement. Parameters: ids. */
export async function markPublished(query: QueryRows, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await query(sql`
    WITH marked AS (
      UPDATE outbox_message
         SET status = 'published', published_at = now(), attempts = attempts + 1, last_error = NULL
       WHERE id = ANY(${ids}::uuid[])
      RETURNING 1)
    SELECT count(*)::int AS "count" FROM marked`);
}

export interface RetryPolicy {
  maxPublishAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface FailedAttempt {
  id: string;
  status: 'pending' | 'failed';
  attempts: number;
}

/**
 * Records a failed publish attempt (nack, confirm timeout) for the rows, in one
 * statement: attempts + 1, the error, and either a later available_at
 * (exponential backoff with ±20% jitter) or, at maxPublishAttempts, status failed.
 * Parameters: ids, error text, max attempts, initial and max backoff in ms.
 */
export function recordFailedAttempts(query: QueryRows, ids: string[], error: string, policy: RetryPolicy): Promise<FailedAttempt[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return query<FailedAttempt>(sql`
    UPDATE outbox_message
       SET attempts = attempts + 1,
           last_error = ${error.slice(0, 2000)},
           status = CASE WHEN attempts + 1 >= ${policy.maxPublishAttempts}
                         THEN 'failed'::outbox_message_status ELSE 'pending'::outbox_message_status END,
           available_at = now() + LEAST(${policy.maxBackoffMs}::float8, ${policy.initialBackoffMs}::float8 * power(2, attempts))
                                  * (0.8 + random() * 0.4) * interval '1 millisecond'
     WHERE id = ANY(${ids}::uuid[])
    RETURNING id::text AS "id", status::text AS "status", attempts AS "attempts"`);
}
