// The reconciler's record of its runs (outbox_reconciler_run) and of what it
// re-published (outbox_reschedule). Each statement commits on its own, outside the
// lock's transaction: what a run did stays written when it fails later.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';

export type RunEnding = 'done' | 'failed';

export interface RescheduleBackoff {
  /** Before the first repeat; doubled for each one after. */
  baseMs: number;
  maxMs: number;
}

export async function insertRun(query: QueryRows, status: 'running' | 'skipped'): Promise<string> {
  const [row] = await query<{ id: string }>(sql`INSERT INTO outbox_reconciler_run (status) VALUES (${status}) RETURNING id::text AS "id"`);
  return row!.id;
}

/**
 * Runs still marked running although this run holds the lock: their process died
 * (SIGKILL, a lost machine) or lost its database session, which freed the lock.
 * Closed as abandoned, keeping the counts they committed. Parameters: this run's id.
 */
export function closeAbandonedRuns(query: QueryRows, runId: string): Promise<{ id: string; startedAt: Date; rescheduled: number }[]> {
  return query(sql`
    UPDATE outbox_reconciler_run
       SET status = 'abandoned', finished_at = now(),
           error = 'its process ended (or lost its database session) before the run did: closed by run ' || ${runId}
     WHERE status = 'running' AND id <> ${runId}::bigint
    RETURNING id::text AS "id", started_at AS "startedAt", rescheduled`);
}

/**
 * Records re-publishes the broker confirmed, in one statement: each message's
 * back-off (first `baseMs`, doubling per repeat up to `maxMs`) and the run's count,
 * so the two always agree. Parameters: run, consumer, message ids, back-off.
 */
export async function recordRescheduled(
  query: QueryRows,
  runId: string,
  consumer: string,
  messageIds: readonly string[],
  backoff: RescheduleBackoff,
): Promise<void> {
  if (messageIds.length === 0) return;
  await query(sql`
    WITH rescheduled AS (
      INSERT INTO outbox_reschedule AS r (message_id, consumer, count, last_at, next_at, run_id)
      SELECT id, ${consumer}, 1, now(), now() + ${backoff.baseMs} * interval '1 millisecond', ${runId}::bigint
        FROM unnest(${messageIds}::uuid[]) AS id
      ON CONFLICT (message_id, consumer) DO UPDATE
         SET count = r.count + 1, last_at = now(), run_id = EXCLUDED.run_id,
             next_at = now() + least(${backoff.baseMs}::float8 * power(2, least(r.count, 40)), ${backoff.maxMs}::float8) * interval '1 millisecond'
      RETURNING 1)
    UPDATE outbox_reconciler_run SET rescheduled = rescheduled + (SELECT count(*)::int FROM rescheduled)
     WHERE id = ${runId}::bigint
    RETURNING 1`);
}

/**
 * Ends a run. Only a run still marked running: one closed as abandoned meanwhile
 * stays so (its counts are already right). Parameters: run, status, scanned, report, error.
 */
export async function finishRun(
  query: QueryRows,
  runId: string,
  ending: { status: RunEnding; scanned: number; report?: unknown; error?: string },
): Promise<void> {
  await query(sql`
    UPDATE outbox_reconciler_run
       SET status = ${ending.status}, finished_at = now(), scanned = ${ending.scanned},
           report = coalesce(${ending.report === undefined ? null : JSON.stringify(ending.report)}::jsonb, report),
           error = ${ending.error ?? null}
     WHERE id = ${runId}::bigint AND status = 'running'
    RETURNING 1`);
}

/** Back-off records older than the horizon: their messages are not owed any more. Parameters: horizon. */
export async function forgetOldReschedules(query: QueryRows, horizonMs: number): Promise<void> {
  await query(sql`
    WITH gone AS (DELETE FROM outbox_reschedule WHERE last_at < now() - ${horizonMs} * interval '1 millisecond' RETURNING 1)
    SELECT count(*)::int AS "count" FROM gone`);
}
