// The relay: claim due rows, publish them with confirms, mark them, in one short
// transaction per batch; several batches in flight (pipelining); back off and
// come back by itself when the database or the broker is away.
import { sqltag as sql } from '@prisma/client/runtime/client';
import { BrokerConnection } from '../broker/brokerConnection.js';
import { parseAmqpUrls } from '../broker/amqpUrls.js';
import { declareRelayTopology } from '../broker/declareRelayTopology.js';
import { readPendingBacklog } from '../database/relayBacklog.js';
import { createPgSqlStore, createPrismaSqlStore, type QueryRows, type SqlStore } from '../database/sqlStore.js';
import type { HealthReport } from '../health/healthReport.js';
import { createComponentEvents } from '../lifecycle/componentEvents.js';
import { createLifecycle } from '../lifecycle/lifecycle.js';
import { createOutage, type Outage } from '../lifecycle/outage.js';
import type { Logger } from '../logging/createLogger.js';
import { componentLogger } from '../logging/componentLogger.js';
import { loggableError } from '../logging/loggableError.js';
import { startSummaryTimer, withinMs } from '../logging/summaryTimer.js';
import { createOutboxMetrics } from '../metrics/outboxMetrics.js';
import { createIdleWait } from '../timing/idleWait.js';
import { createRateLimiter } from '../timing/rateLimiter.js';
import { sleep } from '../timing/sleep.js';
import { registerBacklogGauges } from './backlogGauges.js';
import { listenForWakeUps, type WakeUpListener } from './listenForWakeUps.js';
import { createUnroutableDepthReader } from './readUnroutableDepth.js';
import { createRelayActivity } from './relayActivity.js';
import { HeadBudget } from './headBudget.js';
import { createBatchRunner, type RelayBatchReport, type RelayEvents, type RelayRunReport } from './relayBatch.js';
import { createRelayLiveness } from './relayLiveness.js';
import { resolveRelayOptions, type RelayOptions } from './relayOptions.js';

export type { BatchPhases, RelayBatchReport, RelayRunReport, RelayEvents } from './relayBatch.js';

export interface Relay {
  readonly id: string;
  /** Starts polling and publishing. Idempotent; resolves once running. */
  start(): Promise<void>;
  /** Stops claiming, lets the batches in flight finish (confirms, mark), closes what it (or runOnce) opened. Idempotent. */
  stop(): Promise<void>;
  /**
   * Publishes everything due now, then resolves with what it did. For tests, `--once`
   * and cron. Never waits for the broker longer than brokerWaitMs (then it rejects
   * with OUTBOX_BROKER_UNREACHABLE); a database that fails rejects it at once. When
   * `signal` aborts, it claims no more, lets the batches in flight settle, and
   * rejects with the signal's reason.
   */
  runOnce(options?: { signal?: AbortSignal }): Promise<RelayRunReport>;
  /** Liveness for GET /health: running, loops making progress, database and broker reachable. */
  health(): HealthReport;
  on<E extends keyof RelayEvents>(event: E, listener: (...args: RelayEvents[E]) => void): void;
  off<E extends keyof RelayEvents>(event: E, listener: (...args: RelayEvents[E]) => void): void;
}

/** A summary's reads (lag, unroutable depth) give up after this: a summary never holds up the relay. */
const SUMMARY_READ_TIMEOUT_MS = 2_000;

/** How long a batch loop other than the polling one waits when nothing wakes it: a safety net, not the way work reaches it. */
const helperWaitMs = (pollIntervalMs: number) => Math.max(pollIntervalMs, Math.min(pollIntervalMs * 10, 5_000));

const emptyReport = (): RelayRunReport => ({ batches: 0, claimed: 0, published: 0, retried: 0, failed: 0, interrupted: 0 });

export function createRelay(options: RelayOptions): Relay {
  const config = resolveRelayOptions(options);
  const logger: Logger = componentLogger(config.logger, { component: 'relay', relayId: config.relayId });
  const amqpUrls = parseAmqpUrls(config.amqpUrl);
  const secrets = [...amqpUrls, ...(config.databaseUrl ? [config.databaseUrl] : [])];
  const errorFor = (error: unknown) => loggableError(error, secrets);
  const concurrency = Math.max(1, Math.floor(config.maxInFlight / config.batchSize));
  const batchSize = Math.min(config.batchSize, config.maxInFlight);
  const topology = { exchange: config.exchange, unroutable: config.unroutableExchange };
  const rateLimiter = createRateLimiter(config.maxPublishRate);
  const events = createComponentEvents<RelayEvents>((error, event) => logger.error({ err: errorFor(error), event }, 'relay event listener threw'));
  if (config.metrics) {
    const metrics = createOutboxMetrics(config.metrics);
    events.on('batch:confirmed', ({ nacked, timedOut, published }) => {
      metrics.published.inc(published.length);
      metrics.nacked.inc({ reason: 'nack' }, nacked);
      metrics.nacked.inc({ reason: 'confirm-timeout' }, timedOut);
      for (const { eventType, latencyMs } of published) metrics.publishLatency.observe({ event_type: eventType }, latencyMs / 1000);
    });
    events.on('message:failed', ({ eventType }) => metrics.failed.inc({ event_type: eventType }));
  }
  const claims = config.metrics ? createOutboxMetrics(config.metrics).claims : undefined;
  // Counted by the publish loop in memory, read by the periodic summary.
  const activity = createRelayActivity();

  const liveness = createRelayLiveness(config.stuckAfterMs);
  const processBatch = createBatchRunner({
    config,
    batchSize,
    rateLimiter,
    liveness,
    events,
    logger,
    connect: () => connect(),
    dropConnections: () => dropConnections(),
  });
  let store: SqlStore | undefined;
  let broker: BrokerConnection | undefined;
  // Through whatever store is current: the watchdog may replace it.
  const currentQuery: QueryRows = (query) => connect().store.query(query);
  const connect = () => {
    store ??= config.prisma
      ? createPrismaSqlStore(config.prisma)
      : createPgSqlStore(config.databaseUrl!, {
          maxConnections: concurrency + 1,
          applicationName: 'outbox-relay',
          queryTimeoutMs: config.queryTimeoutMs,
          onIdleError: (error) => logger.warn({ err: errorFor(error) }, 'idle database connection lost'),
        });
    broker ??= new BrokerConnection({
      urls: amqpUrls,
      logger,
      connectionName: config.relayId,
      setupChannel: (channel) => declareRelayTopology(channel, topology),
    });
    if (config.metrics) registerBacklogGauges(config.metrics, currentQuery);
    return { store, broker };
  };

  /**
   * Lets go of the connections: at stop(), and as the watchdog's remedy for a batch
   * that outlived its deadline (the next batches open new ones; a pool waits for the
   * stuck client, whose transaction ends on the server by idle_in_transaction_session_timeout).
   */
  async function dropConnections(): Promise<void> {
    const [oldStore, oldBroker] = [store, broker];
    store = undefined;
    broker = undefined;
    await oldBroker?.close();
    await oldStore?.close().catch((error: unknown) => logger.debug({ err: errorFor(error) }, 'closing the database pool failed'));
  }

  function addUp(total: RelayRunReport, report: RelayBatchReport): void {
    total.batches += 1;
    total.claimed += report.claimed;
    total.published += report.published;
    total.retried += report.retried;
    total.failed += report.failed;
    total.interrupted += report.interrupted;
  }

  /**
   * The long-running loop: batches back to back while there is work, waits when idle,
   * backs off on failures.
   * After a claim that took every free head (nothing else was claimable), a loop claims
   * again at once only when it cannot count on being told of new rows: polling, or a
   * NOTIFY that does not reach it. While the listener hears the writers' NOTIFY, rows
   * committed meanwhile have woken another loop, or left a wake-up for this one's next
   * wait, so the extra claim (usually empty) is saved: each NOTIFY wakes one loop into
   * one claim, not every loop into two.
   * A full batch says more is waiting: the loop goes on and wakes another to share it, so
   * only one loop needs to poll at pollIntervalMs (`waitForWork`); the others wait longer,
   * for a wake-up.
   */
  async function publishLoop(
    heads: HeadBudget,
    outage: Outage,
    signal: AbortSignal,
    idle: { waitForWork: () => Promise<void>; wakeAnother: () => void },
    toldOfNewRows: () => boolean,
  ): Promise<void> {
    while (!signal.aborted) {
      let report: RelayBatchReport | undefined;
      try {
        report = await processBatch(heads, signal);
        outage.succeeded();
      } catch (error) {
        if (signal.aborted) break;
        await sleep(outage.failed(error), signal);
        liveness.progressed();
        continue;
      }
      liveness.progressed();
      claims?.inc({ result: report ? 'rows' : 'empty' });
      if (report) {
        activity.add(report);
        events.emit('batch:published', report);
      }
      if (report && report.claimed >= batchSize) idle.wakeAnother();
      if (!report || (heads.lastClaimTookAll && toldOfNewRows())) {
        await idle.waitForWork();
        liveness.progressed();
      }
    }
  }

  let wakeUps: WakeUpListener | undefined;
  const unroutableDepth = createUnroutableDepthReader(config.unroutableExchange);
  let lastUnroutable = 0;

  /** The periodic info line: what was done since the last one, and the lag; a warning while unroutable events pile up. */
  async function summarize(): Promise<void> {
    const done = activity.take();
    // Reads off the publish loop, bounded: an unreachable database or broker only leaves a field out.
    const db = store;
    const mq = broker;
    const lagMs = db ? await withinMs(SUMMARY_READ_TIMEOUT_MS, async () => (await readPendingBacklog(db.query)).oldestDueMs) : undefined;
    const unroutable = mq?.state === 'connected' ? await withinMs(SUMMARY_READ_TIMEOUT_MS, async () => unroutableDepth.read(await mq.connection())) : undefined;
    const happened = done.published + done.retried + done.failed + done.interrupted > 0 || (lagMs !== undefined && lagMs !== null);
    if (happened) {
      const { sinceMs, batches, published, retried, failed, interrupted } = done;
      logger.info({ sinceMs, batches, published, retried, failed, interrupted, lagMs, unroutable }, 'relay summary');
    }
    if (unroutable === undefined) return;
    // Once when it first holds messages, again whenever it grew since the last look.
    if (unroutable > lastUnroutable) {
      logger.warn(
        { unroutable, queue: config.unroutableExchange },
        `${config.unroutableExchange} holds ${unroutable} message(s): events no consumer queue was bound for, kept there but owed to no consumer. ` +
          "Run `outbox setup --config …` before the relay (it declares every consumer's queues); see `outbox status`",
      );
    }
    lastUnroutable = unroutable;
  }

  const lifecycle = createLifecycle({
    async open(signal) {
      const idle = createIdleWait(config.pollIntervalMs, signal);
      wakeUps = config.listenForWakeUps
        ? listenForWakeUps({
            databaseUrl: config.databaseUrl!,
            onWakeUp: () => idle.wakeOne(),
            sendProbe: (channel, payload) => connect().store.query(sql`SELECT 1 AS sent FROM pg_notify(${channel}, ${payload})`),
            logger,
            signal,
            pollIntervalMs: config.pollIntervalMs,
          })
        : undefined;
      const stopListening = wakeUps?.stop ?? (async () => {});
      // One outage for all the loops: an outage is one warning and one recovery line, however many batches it failed.
      const outage = createOutage({
        logger,
        errorFor,
        startMessage: 'relay batch failed (database or broker unavailable?); backing off',
        endMessage: 'relay recovered: publishing again',
        backoff: { initialMs: 200, maxMs: 10_000 },
      });
      const loops = Promise.all(
        Array.from({ length: concurrency }, (_, index) => {
          // Loop 0 polls; the others mostly wait to be woken (a NOTIFY, a loop with a full batch).
          const waitMs = index === 0 ? config.pollIntervalMs : helperWaitMs(config.pollIntervalMs);
          const waiting = { waitForWork: () => idle.wait(waitMs), wakeAnother: () => idle.wakeOne() };
          return publishLoop(new HeadBudget(batchSize), outage, signal, waiting, () => wakeUps?.state() === 'listening');
        }),
      ).then(() => {});
      activity.take();
      const summary = startSummaryTimer(config.summaryIntervalMs, summarize);
      logger.info(
        { concurrency, batchSize, exchange: config.exchange, pollIntervalMs: config.pollIntervalMs, summaryIntervalMs: config.summaryIntervalMs },
        'relay started',
      );
      return { loops, stopListening, summary };
    },
    async close({ loops, stopListening, summary }) {
      await loops;
      await stopListening();
      // The last summary (what was done since the previous one), while the connections are still open.
      await summary.stop();
      logger.info('relay stopped');
    },
    // Also what runOnce() opened.
    release: dropConnections,
  });

  return {
    id: config.relayId,
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),

    async runOnce({ signal = new AbortController().signal } = {}) {
      // Batches until one finds nothing due; an error is the caller's (no retry loop here).
      const total = emptyReport();
      const batches = (heads: HeadBudget) => processBatch(heads, signal, config.brokerWaitMs);
      const loops = await Promise.allSettled(
        Array.from({ length: concurrency }, async () => {
          const heads = new HeadBudget(batchSize);
          for (let report = await batches(heads); report; report = await batches(heads)) {
            addUp(total, report);
            events.emit('batch:published', report);
          }
        }),
      );
      // Every loop settled first: nothing of this run goes on after it rejects.
      const failure = loops.find((loop) => loop.status === 'rejected');
      if (failure) throw failure.reason;
      signal.throwIfAborted();
      return total;
    },

    health() {
      return liveness.health(lifecycle.state === 'running', broker, wakeUps?.state());
    },

    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
  };
}
