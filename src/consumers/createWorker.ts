// The worker: one channel per consumer (its prefetch, its concurrency), a
// confirm channel for retries and dead letters, and the whole set re-created
// after every reconnect. A delivery is acknowledged only after its verdict is
// safe: the transaction committed, or the retry / dead letter confirmed. It never
// waits forever: a delivery has a deadline, the start waits out outages, and
// health() says when something has been wrong for longer than a blip.
import { BrokerConnection } from '../broker/brokerConnection.js';
import { parseAmqpUrls } from '../broker/amqpUrls.js';
import { isConnectionFailure } from '../database/connectionSettings.js';
import { prismaQueryRows } from '../database/sqlStore.js';
import type { HealthReport } from '../health/healthReport.js';
import { componentLogger } from '../logging/componentLogger.js';
import { loggableError } from '../logging/loggableError.js';
import { startSummaryTimer, type SummaryTimer } from '../logging/summaryTimer.js';
import { createComponentEvents } from '../lifecycle/componentEvents.js';
import { createLifecycle } from '../lifecycle/lifecycle.js';
import { createEventCatalog } from '../catalog/eventCatalog.js';
import { sleep } from '../timing/sleep.js';
import { createConcurrencyLimiter } from './concurrencyLimiter.js';
import { createGroupRunner } from './runDeliveryGroup.js';
import { createConsumeLoop } from './consumeLoop.js';
import { declareConsumerTopology, type WorkerTopology } from '../broker/consumerTopology.js';
import { createDeliveryStats } from './deliveryStats.js';
import { registerConsumers } from './registerConsumers.js';
import { resolveConsumerSet } from './resolveConsumerSet.js';
import { recordDeliveryMetrics } from './deliveryMetrics.js';
import { registerParkedGauges } from './parkedGauges.js';
import { registerDlqGauge } from './dlqGauge.js';
import { createDeliveryRunner, type WorkerEvents } from './runDelivery.js';
import { isTransientBrokerFailure, untilAvailable } from './untilAvailable.js';
import { createVerdictActions } from './verdictActions.js';
import { createReleaseHeld } from './releaseHeld.js';
import { createWorkerHealth } from './workerHealth.js';
import { resolveWorkerOptions, type WorkerOptions } from './workerOptions.js';

export type { WorkerOptions } from './workerOptions.js';

export interface Worker {
  /**
   * Registers the consumers, declares their topology, starts consuming; waits out a
   * database or broker outage first. Idempotent: concurrent calls share one start.
   */
  start(): Promise<void>;
  /** Stops consuming, lets handlers in flight finish (drainTimeoutMs), closes the connection; gives up a start still waiting. Idempotent. */
  stop(): Promise<void>;
  /**
   * For GET /health (no I/O): unhealthy when not running, when the broker or the
   * database has been failing longer than healthToleranceMs, or while a delivery
   * is stuck past its deadline.
   */
  health(): HealthReport;
  /** Typed events ('delivery:settled'); a listener that throws is logged, never breaks the worker. */
  on<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): void;
  off<E extends keyof WorkerEvents>(event: E, listener: (...args: WorkerEvents[E]) => void): void;
}

interface Running {
  connection: BrokerConnection;
  /** Consuming until stop(), then draining. */
  loop: Promise<void>;
  summary: SummaryTimer;
}

export function createWorker(options: WorkerOptions): Worker {
  const config = resolveWorkerOptions(options);
  const catalog = createEventCatalog(options.events);
  const consumers = resolveConsumerSet(options.consumers, catalog);
  const amqpUrls = parseAmqpUrls(options.amqpUrl);
  const logger = componentLogger(options.logger, { component: 'worker', workerId: config.workerId });
  const errorFor = (error: unknown) => loggableError(error, amqpUrls);
  const topology: WorkerTopology = { exchange: config.exchange, unroutable: config.unroutableExchange, deadLetterExchange: config.deadLetterExchange };

  const limiters = new Map(consumers.map((consumer) => [consumer.name, createConcurrencyLimiter(consumer.concurrency)]));
  const health = createWorkerHealth(config.healthToleranceMs);
  const stats = createDeliveryStats(consumers.map((consumer) => consumer.name));
  const events = createComponentEvents<WorkerEvents>((error, event) => logger.error({ err: errorFor(error), event }, 'worker event listener threw'));
  events.on('delivery:settled', ({ consumer, outcome, durationMs, handlerRan }) => stats.record(consumer, outcome, handlerRan ? durationMs : undefined));
  if (options.metrics) {
    recordDeliveryMetrics(
      events,
      options.metrics,
      consumers.map((consumer) => consumer.name),
    );
    const ordered = consumers.filter((consumer) => consumer.ordered).map((consumer) => consumer.name);
    registerParkedGauges(options.metrics, prismaQueryRows(options.prisma), ordered);
    registerDlqGauge(
      options.metrics,
      consumers.map((consumer) => consumer.name),
      () => liveConnection?.current,
    );
  }
  /** The running start's broker connection (for the DLQ gauge's reads at scrape). */
  let liveConnection: BrokerConnection | undefined;
  /** What carries out verdicts and runs deliveries, on this start's broker connection. */
  function deliveryRunnerOn(broker: BrokerConnection) {
    const actions = createVerdictActions({
      broker,
      prisma: options.prisma,
      deadLetterExchange: config.deadLetterExchange,
      logger,
      errorFor,
      ...(options.onDeadLetter ? { onDeadLetter: options.onDeadLetter } : {}),
      ...(options.onParked ? { onParked: options.onParked } : {}),
    });
    const handling = {
      prisma: options.prisma,
      catalog,
      logger,
      transactionTimeoutMs: config.transactionTimeoutMs,
      releaseHeld: createReleaseHeld(broker, config.workerId),
    };
    const runDelivery = createDeliveryRunner({
      handling,
      deliveryTimeoutMs: config.deliveryTimeoutMs,
      actions,
      events,
      health,
      logger,
      errorFor,
    });
    const runGroup = createGroupRunner(runDelivery, { handling, deliveryTimeoutMs: config.deliveryTimeoutMs, events, logger });
    return { runDelivery, runGroup };
  }

  let summarySince = Date.now();
  /** The periodic info lines: one per consumer that did anything since the last ones (counted in memory by runDelivery). */
  function summarize(): Promise<void> {
    const sinceMs = Date.now() - summarySince;
    summarySince = Date.now();
    for (const counts of stats.take()) logger.info({ sinceMs, ...counts }, 'consumer summary');
    return Promise.resolve();
  }

  /** Registers, declares, starts consuming; waits out database and broker outages until `signal` (stop()) aborts. */
  async function open(signal: AbortSignal): Promise<Running> {
    const connection = new BrokerConnection({
      urls: amqpUrls,
      logger,
      connectionName: config.workerId,
      setupChannel: async (channel) => {
        for (const consumer of consumers) await declareConsumerTopology(channel, topology, consumer);
      },
    });
    const retrying = { logger, errorFor, signal };
    try {
      // Nothing else has touched the database yet: a bare socket error can only be its.
      const isTransient = (error: unknown) => isConnectionFailure(error, { socketErrors: true });
      await untilAvailable(
        () =>
          registerConsumers(
            prismaQueryRows(options.prisma),
            consumers.map((consumer) => consumer.name),
          ),
        { ...retrying, what: 'database', isTransient },
      );
      health.database.succeeded();
      // Declare before returning, so that a caller publishing right after start() has queues bound.
      await untilAvailable(() => connection.confirmChannel(signal), { ...retrying, what: 'broker', isTransient: isTransientBrokerFailure });
    } catch (error) {
      // Not started: close what this call opened (stop() has nothing to stop).
      await connection.close();
      throw error;
    }
    stats.take();
    summarySince = Date.now();
    const summary = startSummaryTimer(config.summaryIntervalMs, summarize);
    const consuming = createConsumeLoop({ broker: connection, consumers, limiters, ...deliveryRunnerOn(connection), health, logger, errorFor });
    const loop = consuming.run(signal).then(() => drain(consuming.channels()));
    liveConnection = connection;
    return { connection, loop, summary };
  }

  /** Consuming stopped (the signal aborted): handlers drained, connection closed, the last summary written. */
  async function close({ connection, loop, summary }: Running): Promise<void> {
    liveConnection = undefined;
    await loop;
    await connection.close();
    // The last summary: what was done since the previous one, drained handlers included.
    await summary.stop();
    logger.info('worker stopped');
  }

  /** After consuming stopped: handlers in flight finish (up to the drain timeout), then channels and connection close. */
  async function drain(channels: { close(): Promise<void> }[]): Promise<void> {
    const drained = Promise.all([...limiters.values()].map((limiter) => limiter.drained()));
    const drainDeadline = new AbortController();
    const timedOut = await Promise.race([
      drained.then(() => false),
      sleep(config.drainTimeoutMs, drainDeadline.signal).then(() => !drainDeadline.signal.aborted),
    ]);
    drainDeadline.abort();
    if (timedOut) logger.warn({ drainTimeoutMs: config.drainTimeoutMs }, 'handlers still running at the drain timeout; their deliveries will be redelivered');
    // Channels before the connection: a connection close can overtake acks still queued on a channel.
    await Promise.all(channels.map((channel) => channel.close().catch(() => {})));
  }

  const lifecycle = createLifecycle({ open, close });

  return {
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),
    health() {
      return health.report(lifecycle.state === 'running');
    },
    on: (event, listener) => events.on(event, listener),
    off: (event, listener) => events.off(event, listener),
  };
}
