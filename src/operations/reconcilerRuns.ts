// The reconciler's runs, newest first: when, how they ended, what they scanned and
// re-scheduled, and per consumer what they deferred (a queue's backlog may hold it).
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';

export interface ReconcilerRunSummary {
  id: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  scanned: number;
  rescheduled: number;
  /** Owed, not re-published because their queue held a backlog they may be waiting in. */
  deferred: number;
  error: string | null;
  consumers: { consumer: string; scanned: number; rescheduled: number; deferred: number; oldestNotDoneAt: string | null }[];
}

/** Parameters: limit. */
export async function readReconcilerRuns(query: QueryRows, limit = 50): Promise<ReconcilerRunSummary[]> {
  const rows = await query<{
    id: string;
    status: string;
    startedAt: Date;
    finishedAt: Date | null;
    scanned: number;
    rescheduled: number;
    error: string | null;
    consumers: { consumer: string; scanned?: number; rescheduled?: number; deferred?: number; oldestNotDoneAt?: string | null }[] | null;
  }>(sql`
    SELECT id::text AS "id", status, started_at AS "startedAt", finished_at AS "finishedAt", scanned, rescheduled, error,
           report->'consumers' AS "consumers"
      FROM outbox_reconciler_run ORDER BY started_at DESC, id DESC LIMIT ${limit}`);
  return rows.map((row) => {
    const consumers = (Array.isArray(row.consumers) ? row.consumers : []).map((entry) => ({
      consumer: entry.consumer,
      scanned: entry.scanned ?? 0,
      rescheduled: entry.rescheduled ?? 0,
      deferred: entry.deferred ?? 0,
      oldestNotDoneAt: entry.oldestNotDoneAt ?? null,
    }));
    return {
      id: row.id,
      status: row.status,
      startedAt: row.startedAt.toISOString(),
      finishedAt: row.finishedAt?.toISOString() ?? null,
      durationMs: row.finishedAt ? row.finishedAt.getTime() - row.startedAt.getTime() : null,
      scanned: row.scanned,
      rescheduled: row.rescheduled,
      deferred: consumers.reduce((total, entry) => total + entry.deferred, 0),
      error: row.error,
      consumers,
    };
  });
}
