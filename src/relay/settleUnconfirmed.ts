import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';

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
 * Takes back the claim's "published" for rows the broker refused (nack) or did not
 * confirm in time, in one statement: the attempt stays counted, with its error, and
 * the row waits (exponential backoff from the attempt count, ±20% jitter) or, at
 * maxPublishAttempts, becomes failed.
 * Parameters: ids, error text, max attempts, initial and max backoff in ms.
 */
export function recordFailedAttempts(query: QueryRows, ids: string[], error: string, policy: RetryPolicy): Promise<FailedAttempt[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return query<FailedAttempt>(sql`
    UPDATE outbox_message
       SET published_at = NULL,
           last_error = ${error.slice(0, 2000)},
           status = CASE WHEN attempts >= ${policy.maxPublishAttempts}
                         THEN 'failed'::outbox_message_status ELSE 'pending'::outbox_message_status END,
           available_at = now() + LEAST(${policy.maxBackoffMs}::float8, ${policy.initialBackoffMs}::float8 * power(2, attempts - 1))
                                  * (0.8 + random() * 0.4) * interval '1 millisecond'
     WHERE id = ANY(${ids}::uuid[])
    RETURNING id::text AS "id", status::text AS "status", attempts AS "attempts"`);
}

/**
 * Puts rows back as they were before the claim, attempt not counted: they were not
 * sent, or the channel closed under them (broker restart), which is no fault of the
 * message. Parameters: ids.
 */
export async function releaseUnsent(query: QueryRows, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await query(sql`
    WITH released AS (
      UPDATE outbox_message
         SET status = 'pending', published_at = NULL, attempts = attempts - 1
       WHERE id = ANY(${ids}::uuid[])
      RETURNING 1)
    SELECT count(*)::int AS "count" FROM released`);
}
