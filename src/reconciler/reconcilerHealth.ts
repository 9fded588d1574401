// The reconciler's health, from what its runs and its database probe last saw:
// the database reachable, the broker reachable when a run needed it, and no run
// going on past its deadline.
import { createReachability, healthReport, type HealthCheck, type HealthReport } from '../health/healthReport.js';

/** A failure shorter than this is a blip, not an outage. */
const TOLERANCE_MS = 30_000;

export function createReconcilerHealth(runDeadlineMs: number) {
  const database = createReachability(TOLERANCE_MS);
  // Checked only by the runs that need it: a failure stays until a run succeeds.
  const broker = createReachability(0);
  let runningSince: number | undefined;
  let lastRun: { endedAt: number; outcome: string } | undefined;

  const runCheck = (now: number): HealthCheck => {
    if (runningSince !== undefined) {
      const ms = now - runningSince;
      if (ms > runDeadlineMs)
        return { ok: false, detail: `a run has been running for ${Math.round(ms / 1000)} s (deadline ${Math.round(runDeadlineMs / 1000)} s)` };
      return { ok: true, detail: `a run is running for ${Math.round(ms / 1000)} s` };
    }
    if (!lastRun) return { ok: true, detail: 'no run yet' };
    return { ok: true, detail: `last run ${lastRun.outcome} ${Math.round((now - lastRun.endedAt) / 1000)} s ago` };
  };

  return {
    database,
    broker,
    runStarted(now = Date.now()): void {
      runningSince = now;
    },
    runEnded(outcome: string, now = Date.now()): void {
      runningSince = undefined;
      lastRun = { endedAt: now, outcome };
    },
    report(now = Date.now()): HealthReport {
      return healthReport('reconciler', { database: database.check(now), broker: broker.check(now), run: runCheck(now) });
    },
  };
}

export type ReconcilerHealth = ReturnType<typeof createReconcilerHealth>;
