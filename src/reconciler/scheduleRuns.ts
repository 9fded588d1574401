// The reconciler's schedule: a run at each cron tick (never two at once in this
// process), a log line when runs start failing and one when they succeed again
// (not one per failed run: an outage of an hour at a run a minute is two lines),
// and a light database probe between runs so health() tells a database outage
// even while no run is going on.
import type { Logger } from '../logging/createLogger.js';
import { loggableError } from '../logging/loggableError.js';
import { withTimeout } from '../timing/bounded.js';
import type { ReconcilerHealth } from './reconcilerHealth.js';

export interface ScheduleRunsOptions {
  cronExpression: string;
  runOnce: () => Promise<unknown>;
  /** A statement that proves the database answers. */
  probe: () => Promise<unknown>;
  health: ReconcilerHealth;
  logger: Logger;
  secrets: readonly string[];
  probeIntervalMs?: number;
}

const PROBE_TIMEOUT_MS = 10_000;

export async function scheduleRuns(options: ScheduleRunsOptions): Promise<{ stop(interrupt?: () => void): Promise<void> }> {
  // Loaded by the first start(), not with the package.
  const { default: cron } = await import('node-cron');
  const { logger, health } = options;
  let current: Promise<void> | undefined;
  let failing: { since: number; runs: number } | undefined;
  let stopping = false;

  const tick = () => {
    if (current) return; // no overlapping runs in this process (the lock covers the others)
    current = options
      .runOnce()
      .then(
        () => {
          if (!failing) return;
          logger.info({ failedRuns: failing.runs, outageMs: Date.now() - failing.since }, 'reconciler runs succeed again');
          failing = undefined;
        },
        (error: unknown) => {
          const err = loggableError(error, options.secrets);
          // Ended by stop(): not a failure (its lock is released, the next start goes on from the watermark).
          if (stopping) {
            logger.info({ err }, 'reconciler run interrupted: the reconciler is stopping');
            return;
          }
          if (failing) {
            failing.runs += 1;
            logger.debug({ err, failedRuns: failing.runs }, 'reconciler run failed again');
            return;
          }
          failing = { since: Date.now(), runs: 1 };
          logger.error({ err }, 'reconciler run failed; the next scheduled runs try again (one line when they succeed)');
        },
      )
      .finally(() => {
        current = undefined;
      });
  };
  const task = cron.schedule(options.cronExpression, tick);

  // One probe at a time: a probe stuck on a silent connection is not joined by more.
  let probing: Promise<unknown> | undefined;
  const probe = setInterval(() => {
    if (probing || current) return;
    const attempt = options.probe();
    probing = attempt.finally(() => {
      probing = undefined;
    });
    probing.catch(() => {});
    withTimeout(attempt, PROBE_TIMEOUT_MS, 'the database did not answer the probe').then(
      () => health.database.succeeded(),
      (error: unknown) => health.database.failed(error),
    );
  }, options.probeIntervalMs ?? 15_000);
  probe.unref();
  logger.info({ schedule: options.cronExpression }, 'reconciler scheduled');

  return {
    /** `interrupt` ends the run in flight (its failure is then logged as an interruption). */
    async stop(interrupt?: () => void) {
      stopping = true;
      interrupt?.();
      clearInterval(probe);
      await task.stop();
      await current;
    },
  };
}
