// The reconciler: on a schedule (hourly by default), one replica at a time, finds
// side effects owed and not done (a wiped queue, a bug that dropped messages, a
// long outage) and publishes those messages again to that consumer's queue only.
// A long-running reconciler never exits for an outage: a run that meets one fails,
// is recorded as failed with what it did, and the next scheduled run tries again.
import { sqltag as sql } from '@prisma/client/runtime/client';
import { parseAmqpUrls } from '../broker/amqpUrls.js';
import { HEADER_RESCHEDULED_AT } from '../broker/wireFormat.js';
import { resolveConsumer } from '../catalog/defineConsumer.js';
import { registerConsumers } from '../consumers/registerConsumers.js';
import { typesMatching } from '../catalog/topicPattern.js';
import { consumedQueues, consumerEntry } from '../broker/consumerTopology.js';
import type { QueryRows, SqlStore } from '../database/sqlStore.js';
import { DAY_MS } from '../database/partitionLayout.js';
import { removeLeftoverBounds } from '../database/enablePartitioning.js';
import { createPartitionsAhead, PARTITION_LOCK_TIMEOUT_MS } from '../database/maintainPartitions.js';
import { readRelayBacklog } from '../database/relayBacklog.js';
import { createComponentEvents } from '../lifecycle/componentEvents.js';
import { createLifecycle } from '../lifecycle/lifecycle.js';
import type { HealthReport, HealthSource } from '../health/healthReport.js';
import { componentLogger } from '../logging/componentLogger.js';
import { loggableError } from '../logging/loggableError.js';
import { redactSecrets } from '../logging/redactUrl.js';
import { createEventCatalog } from '../catalog/eventCatalog.js';
import { retryFailedMessages } from '../database/retryFailedMessages.js';
import { createRateLimiter } from '../timing/rateLimiter.js';
import { untilAborted, withTimeout } from '../timing/bounded.js';
import { readConsumers } from './consumerBacklog.js';
import { reconcileConsumer, type ConsumerReconciliation } from './reconcileConsumer.js';
import { openReconcilerSession, type ReconcilerSession } from './reconcilerSession.js';
import { createReconcilerHealth } from './reconcilerHealth.js';
import { recordReconcilerMetrics } from './reconcilerMetrics.js';
import { tryAcquireLock, type LockLease } from './reconcilerLock.js';
import { resolveReconcilerOptions, type ReconcilerOptions } from './reconcilerOptions.js';
import { scheduleRuns } from './scheduleRuns.js';
import { createRunProgress, type RunProgress } from './runProgress.js';
import { closeAbandonedRuns, forgetOldReschedules, insertRun } from './runRecord.js';

export type { ReconcilerOptions } from './reconcilerOptions.js';
export type { ConsumerReconciliation } from './reconcileConsumer.js';

export interface ReconcileReport {
  /** "skipped": another replica held the reconciler lock. */
  status: 'done' | 'skipped';
  runId: string;
  scanned: number;
  rescheduled: number;
  consumers: ConsumerReconciliation[];
  /** Pending rows older than stalePendingMs: the relay is behind or down. */
  stalePending: { count: number; oldestAgeMs: number | null };
  failedRows: number;
  /** Failed rows returned to pending by this run (retryFailedRows). */
  retriedFailedRows: number;
  /** Partitioned outbox tables: the day partitions this run created ahead. */
  partitionsCreated: string[];
}

type Session = ReconcilerSession<ReconcileReport>;

export interface ReconcilerEvents {
  /** Messages re-published to a consumer by a run (confirmed by the broker), whether the run then finished or not. */
  'consumer:rescheduled': [{ consumer: string; count: number }];
  /** A run ended: done or skipped (with its report), or failed (an outage, a stop). */
  'run:ended': [{ status: 'done' | 'skipped' | 'failed'; report?: ReconcileReport }];
}

export interface Reconciler extends HealthSource {
  /**
   * One run now. Rejects when it failed (an outage): the run is recorded failed, with
   * what it did. When `signal` aborts, the run stops, is recorded failed, and rejects
   * with the signal's reason.
   */
  runOnce(options?: { signal?: AbortSignal }): Promise<ReconcileReport>;
  /** Schedules runs (cron). Idempotent. */
  start(): Promise<void>;
  /** Stops the schedule, aborts a run in flight and waits for it, closes pools and connection. Idempotent; start() or runOnce() open them again. */
  stop(): Promise<void>;
  /** Database reachable, broker reachable when a run needed it, no run past its deadline. */
  health(): HealthReport;
  /** Typed events ('consumer:rescheduled', 'run:ended'); a listener that throws is logged, never breaks a run. */
  on<E extends keyof ReconcilerEvents>(event: E, listener: (...args: ReconcilerEvents[E]) => void): void;
  off<E extends keyof ReconcilerEvents>(event: E, listener: (...args: ReconcilerEvents[E]) => void): void;
}

/** The lock's session proves it is alive this often; the server ends it when idle for 30 s. */
const LOCK_TIMING = { heartbeatMs: 5_000, heartbeatTimeoutMs: 10_000, idleSessionMs: 30_000 };
/** Writing a failed run's end waits this long at most; what is not written is written at the next run. */
const FAILURE_RECORD_WAIT_MS = 10_000;

export function createReconciler(options: ReconcilerOptions): Reconciler {
  const config = resolveReconcilerOptions(options);
  const catalog = createEventCatalog(options.events);
  const consumers = options.consumers.map(resolveConsumer);
  const names = consumers.map((consumer) => consumer.name);
  const amqpUrls = parseAmqpUrls(options.amqpUrl);
  const logger = componentLogger(options.logger, { component: 'reconciler' });
  const secrets = [...amqpUrls, ...(options.databaseUrl ? [options.databaseUrl] : [])];
  const describe = (error: unknown) => redactSecrets(error instanceof Error ? error.message : String(error), secrets);
  const events = createComponentEvents<ReconcilerEvents>((error, event) =>
    logger.error({ err: loggableError(error, secrets), event }, 'reconciler event listener threw'),
  );
  if (options.metrics) recordReconcilerMetrics(events, options.metrics, names);
  const openSession = () =>
    openReconcilerSession<ReconcileReport>(options, {
      logger,
      consumers,
      topology: { exchange: config.exchange, unroutable: config.unroutableExchange, deadLetterExchange: config.deadLetterExchange },
      brokerWaitMs: config.brokerWaitMs,
    });
  /** Pools and broker connection: opened by the first run or start(), closed by stop(); a stopped reconciler opens new ones. */
  let session: Session | undefined;
  const health = createReconcilerHealth(config.runDeadlineMs);
  const backoff = { baseMs: config.rescheduleBackoffMs, maxMs: config.maxRescheduleBackoffMs };
  /** A failed run whose end (or last progress) could not be written yet: written first by the next run. */
  let unfinished: { progress: RunProgress; ending: Parameters<RunProgress['finish']>[0] } | undefined;

  async function relayHealth(query: QueryRows): Promise<Pick<ReconcileReport, 'stalePending' | 'failedRows'>> {
    const backlog = await readRelayBacklog(query, { staleAfterMs: config.stalePendingMs });
    return { stalePending: { count: backlog.stale, oldestAgeMs: backlog.stale > 0 ? backlog.oldestDueMs : null }, failedRows: backlog.failed };
  }

  /**
   * Partitioned tables: the coming days' partitions, so the writers' rows never land in
   * the default partition. A failure here is logged, not the run's: reconciling matters more.
   */
  async function createDaysAhead(store: SqlStore): Promise<string[]> {
    try {
      const cleaned = await removeLeftoverBounds(store, PARTITION_LOCK_TIMEOUT_MS, DAY_MS);
      if (cleaned.length > 0) {
        logger.warn(
          { tables: cleaned },
          'removed the check an interrupted `outbox partitions enable` left, which would soon have refused writes: run it again',
        );
      }
      const created = await createPartitionsAhead(store, { aheadDays: config.partitionsAheadDays });
      if (created.length > 0) logger.info({ partitions: created.map((each) => each.name) }, "created the coming days' partitions");
      return created.map((each) => each.name);
    } catch (error) {
      logger.error({ err: loggableError(error, secrets) }, "creating the coming days' partitions failed: rows of days without one go to the default partition");
      return [];
    }
  }

  async function reconcileAll(
    { store, scanStore, broker }: Session,
    progress: RunProgress,
    lease: LockLease,
    signal: AbortSignal,
    results: ConsumerReconciliation[],
  ): Promise<void> {
    await untilAborted(registerConsumers(store.query, names), signal);
    const records = await untilAborted(readConsumers(store.query, names), signal);
    const pass = {
      query: store.query,
      scan: scanStore.query,
      broker,
      progress,
      rateLimiter: createRateLimiter(config.maxRescheduleRate),
      marker: { header: HEADER_RESCHEDULED_AT, value: new Date().toISOString(), appId: config.appId },
      signal,
      verifyLock: () => lease.verify(),
      logger,
    };
    let budget = config.maxReschedulesPerRun;
    for (const consumer of consumers) {
      const record = records.find((candidate) => candidate.name === consumer.name)!;
      const window = {
        consumer: consumer.name,
        entry: consumerEntry(consumer),
        queues: consumedQueues(consumer),
        ordered: consumer.ordered,
        eventTypes: typesMatching(consumer.events, catalog.types),
        graceMs: config.graceMs,
        horizonMs: config.horizonMs,
      };
      const before = progress.rescheduled;
      try {
        const result = await reconcileConsumer(pass, record, window, budget);
        results.push(result);
        if (result.queueDepth !== null) health.broker.succeeded();
      } finally {
        // Also what a run that fails half-way re-published.
        events.emit('consumer:rescheduled', { consumer: consumer.name, count: progress.rescheduled - before });
      }
      budget -= progress.rescheduled - before;
    }
  }

  async function runLocked(current: Session, caller: AbortSignal | undefined): Promise<ReconcileReport> {
    const { store, stopping } = current;
    if (unfinished) {
      await unfinished.progress.finish(unfinished.ending);
      logger.info({ runId: unfinished.progress.runId, rescheduled: unfinished.progress.rescheduled }, 'recorded the end of the failed run');
      unfinished = undefined;
    }
    const lease = await tryAcquireLock(store, { ...LOCK_TIMING, maxHoldMs: config.runDeadlineMs });
    if (!lease) {
      const skippedId = await insertRun(store.query, 'skipped');
      logger.info({ runId: skippedId }, 'another reconciler is running: skipped');
      return {
        status: 'skipped',
        runId: skippedId,
        scanned: 0,
        rescheduled: 0,
        consumers: [],
        stalePending: { count: 0, oldestAgeMs: null },
        failedRows: 0,
        retriedFailedRows: 0,
        partitionsCreated: [],
      };
    }
    try {
      const signal = AbortSignal.any([lease.lost, stopping.signal, ...(caller ? [caller] : [])]);
      const runId = await untilAborted(insertRun(store.query, 'running'), signal);
      const progress = createRunProgress(store.query, runId, backoff);
      const results: ConsumerReconciliation[] = [];
      try {
        for (const run of await untilAborted(closeAbandonedRuns(store.query, runId), signal)) {
          logger.warn(
            { runId: run.id, startedAt: run.startedAt, rescheduled: run.rescheduled },
            'closed a run left running by a process that is gone: abandoned',
          );
        }
        await reconcileAll(current, progress, lease, signal, results);
        const retriedFailedRows = config.retryFailedRows ? (await untilAborted(retryFailedMessages(store.query), signal)).length : 0;
        const relay = await untilAborted(relayHealth(store.query), signal);
        await untilAborted(forgetOldReschedules(store.query, config.horizonMs), signal);
        const partitionsCreated = await untilAborted(createDaysAhead(store), signal);
        const report: ReconcileReport = {
          status: 'done',
          runId,
          scanned: progress.scanned,
          rescheduled: progress.rescheduled,
          consumers: results,
          ...relay,
          retriedFailedRows,
          partitionsCreated,
        };
        await untilAborted(progress.finish({ status: 'done', report }), signal);
        if (report.stalePending.count > 0) logger.error(report.stalePending, 'pending outbox rows older than stalePendingMs: is the relay running?');
        return report;
      } catch (error) {
        const ending = {
          status: 'failed' as const,
          error: describe(error),
          report: { status: 'failed', runId, scanned: progress.scanned, rescheduled: progress.rescheduled, consumers: results },
        };
        try {
          await withTimeout(progress.finish(ending), FAILURE_RECORD_WAIT_MS, 'the database did not answer');
        } catch {
          unfinished = { progress, ending };
        }
        throw error;
      }
    } finally {
      await lease.release();
    }
  }

  async function runOnce({ signal }: { signal?: AbortSignal } = {}): Promise<ReconcileReport> {
    const current = (session ??= openSession());
    const run = runMeasured(current, signal);
    // stop() lets a run in flight end (it aborts it) before it closes the pools the run uses.
    current.runs.add(run);
    return run.finally(() => current.runs.delete(run));
  }

  async function runMeasured(current: Session, signal: AbortSignal | undefined): Promise<ReconcileReport> {
    const startedAt = performance.now();
    health.runStarted();
    let outcome = 'failed';
    let ended: ReconcileReport | undefined;
    try {
      const report = await runLocked(current, signal);
      outcome = report.status;
      ended = report;
      health.database.succeeded();
      if (report.status === 'done') {
        // Not needed, or needed and reached.
        health.broker.succeeded();
        logger.info(
          { runId: report.runId, scanned: report.scanned, rescheduled: report.rescheduled, durationMs: Math.round(performance.now() - startedAt) },
          'reconciler run done',
        );
      }
      return report;
    } catch (error) {
      if ((error as { code?: string }).code === 'OUTBOX_BROKER_UNREACHABLE') health.broker.failed(error);
      else health.database.failed(error);
      throw error;
    } finally {
      health.runEnded(outcome);
      events.emit('run:ended', ended ? { status: ended.status, report: ended } : { status: 'failed' });
    }
  }

  async function closeSession(): Promise<void> {
    const current = session;
    session = undefined;
    await current?.close();
  }

  const lifecycle = createLifecycle({
    open: async () =>
      scheduleRuns({
        cronExpression: config.schedule,
        runOnce: () => runOnce(),
        probe: () => (session ??= openSession()).store.query(sql`SELECT 1 AS "alive"`),
        health,
        logger,
        secrets,
      }),
    close: async (schedule) => {
      // The scheduled run in flight ends first (aborted), then the schedule.
      await schedule.stop(() => session?.stopping.abort(new Error('the reconciler is stopping')));
    },
    release: closeSession,
  });

  return {
    runOnce,
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),
    health: () => health.report(),
    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
  };
}
