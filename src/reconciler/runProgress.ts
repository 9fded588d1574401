// What a run has done so far, written as it goes. A write that fails (the database
// went away mid-run) keeps what it could not write; the next attempt, in this run or
// at the start of the next one, writes it, so the record ends up telling the truth.
import type { QueryRows } from '../database/sqlStore.js';
import { finishRun, recordRescheduled, type RescheduleBackoff, type RunEnding } from './runRecord.js';

export interface RunProgress {
  readonly runId: string;
  /** Outbox rows looked at so far. */
  readonly scanned: number;
  /** Re-publishes the broker confirmed so far, written or not yet. */
  readonly rescheduled: number;
  addScanned(rows: number): void;
  /** Counts confirmed re-publishes and writes them with their back-off; throws if the write fails (they stay to write later). */
  confirmed(consumer: string, messageIds: readonly string[]): Promise<void>;
  /** Writes what is left, then the run's end. Throws if the database is still away (then call it again later). */
  finish(ending: { status: RunEnding; report?: unknown; error?: string }): Promise<void>;
}

export function createRunProgress(query: QueryRows, runId: string, backoff: RescheduleBackoff): RunProgress {
  let scanned = 0;
  let rescheduled = 0;
  const unwritten: { consumer: string; messageIds: readonly string[] }[] = [];
  // One write at a time: a write the caller stopped waiting for (a silent connection)
  // may still land, and must not be written twice by the next attempt.
  let writing: Promise<unknown> = Promise.resolve();
  const serially = (work: () => Promise<void>): Promise<void> => {
    const next = writing.then(work);
    writing = next.catch(() => {});
    return next;
  };
  const writeConfirmed = async () => {
    while (unwritten.length > 0) {
      const next = unwritten[0]!;
      await recordRescheduled(query, runId, next.consumer, next.messageIds, backoff);
      unwritten.shift();
    }
  };
  return {
    runId,
    get scanned() {
      return scanned;
    },
    get rescheduled() {
      return rescheduled;
    },
    addScanned(rows) {
      scanned += rows;
    },
    async confirmed(consumer, messageIds) {
      if (messageIds.length === 0) return;
      rescheduled += messageIds.length;
      unwritten.push({ consumer, messageIds });
      await serially(writeConfirmed);
    },
    async finish(ending) {
      await serially(async () => {
        await writeConfirmed();
        await finishRun(query, runId, { ...ending, scanned });
      });
    },
  };
}
