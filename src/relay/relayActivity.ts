// What the relay did since its last summary, counted in memory by the publish
// loop (no I/O) and read, then reset, by the summary timer.
import type { RelayBatchReport } from './createRelay.js';

export interface RelayActivity {
  batches: number;
  published: number;
  retried: number;
  failed: number;
  interrupted: number;
}

export function createRelayActivity() {
  let since = Date.now();
  let counts: RelayActivity = { batches: 0, published: 0, retried: 0, failed: 0, interrupted: 0 };
  return {
    add(report: RelayBatchReport): void {
      counts.batches += 1;
      counts.published += report.published;
      counts.retried += report.retried;
      counts.failed += report.failed;
      counts.interrupted += report.interrupted;
    },
    /** The counts since the last call (and over how many ms), reset to zero. */
    take(): RelayActivity & { sinceMs: number } {
      const now = Date.now();
      const taken = { ...counts, sinceMs: now - since };
      counts = { batches: 0, published: 0, retried: 0, failed: 0, interrupted: 0 };
      since = now;
      return taken;
    },
  };
}
