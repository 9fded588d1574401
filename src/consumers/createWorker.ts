// The worker: one channel per consumer (its prefetch, its concurrency), a
// confirm channel for retries and dead letters, and the whole set re-created
// after every reconnect. A delivery is acknowledged only after its verdict is
// safe: the transaction committed, or the retry / dead letter confirmed.
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { z } from 'zod';
import { BrokerConnection } from '../broker/brokerConnection.js';
import { parseAmqpUrls } from '../broker/amqpUrls.js';
import { OutboxError } from '../errors.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../logging/createLogger.js';
import { componentLogger } from '../logging/componentLogger.js';
import { loggableError } from '../logging/loggableError.js';
import { startSummaryTimer, type SummaryTimer } from '../logging/summaryTimer.js';
import { createOutboxMetrics } from '../metrics/outboxMetrics.js';
import type { EventDefinition } from '../outbox/defineEvent.js';
import { createEventCatalog } from '../outbox/eventCatalog.js';
import { toZodIssues } from '../outbox/publishOptions.js';
import { prismaQueryRows, type PrismaRootClient } from '../database/sqlStore.js';
import { backoffDelay } from '../timing/backoffDelay.js';
import { sleep } from '../timing/sleep.js';
import { declareConsumerTopology, dlqName, retryDelayFor, retryQueueName, workerTopologyOptions, type WorkerTopology } from './consumerTopology.js';
import { HEADER_DEAD_AT, HEADER_DEAD_CONSUMER, HEADER_DEAD_ERROR, HEADER_DEAD_REASON } from './deadLetterHeaders.js';
import { HEADER_ATTEMPT } from './decodeDelivery.js';
import type { ConsumerDefinition, DeadLetter, ResolvedConsumer } from './defineConsumer.js';
import { handleDelivery, type Verdict } from './handleDelivery.js';
import { recordInboxFailure } from './inbox.js';
import { registerConsumers } from './registerConsumers.js';
import { resolveConsumerSet } from './resolveConsumerSet.js';
import { createConcurrencyLimiter } from './concurrencyLimiter.js';
import { createDeliveryStats, type DeliveryOutcome } from './deliveryStats.js';

export interface WorkerOptions {
  /** The app's Prisma client (root): each delivery runs in one of its interactive transactions. */
  prisma: PrismaRootClient;
  amqpUrl: string | string[];
  /** The event catalog (what deliveries are decoded and validated against). */
  events: readonly EventDefinition[];
  /** The side effects; each typed by the app with its catalog and transaction client. */
  consumers: readonly ConsumerDefinition<readonly EventDefinition[], never>[];
  exchange?: string;
  unroutableExchange?: string;
  deadLetterExchange?: string;
  /** How long stop() lets handlers in flight finish. Default 30000 ms. */
  drainTimeoutMs?: number;
  /** Interactive transaction timeout of one delivery (handler included). Default 30000 ms. */
  transactionTimeoutMs?: number;
  /** Called once per dead-lettered message, after the consumer's own hook. */
  onDeadLetter?(deadLetter: DeadLetter): void | Promise<void>;
  logger?: Logger;
  /**
   * Every this many ms, one info line per consumer that did anything since the
   * last one: handled, duplicates, retried, dead-lettered, deferred, handed back,
   * handler p50/p99 ms (per-delivery lines are debug). 0: no summary. Default 60000.
   */
  summaryIntervalMs?: number;
  workerId?: string;
  /** A prom-client registry to record metrics on (deliveries by outcome, handler duration). */
  metrics?: Registry;
}

export interface Worker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

const optionsSchema = z.object({
  ...workerTopologyOptions,
  drainTimeoutMs: z.number().int().positive().default(30_000),
  transactionTimeoutMs: z.number().int().positive().default(30_000),
  workerId: z.string().min(1).default(() => `worker-${process.pid}`),
  summaryIntervalMs: z.number().int().nonnegative().default(60_000),
});

export function createWorker(options: WorkerOptions): Worker {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', `createWorker: ${z.prettifyError(parsed.error)}`, { issues: toZodIssues(parsed.error.issues) });
  }
  const config = parsed.data;
  if (typeof options.prisma?.$transaction !== 'function') throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'createWorker: prisma must be a Prisma client');
  const catalog = createEventCatalog(options.events);
  const consumers = resolveConsumerSet(options.consumers, catalog);
  const amqpUrls = parseAmqpUrls(options.amqpUrl);
  const logger = componentLogger(options.logger, { component: 'worker', workerId: config.workerId });
  const errorFor = (error: unknown) => loggableError(error, amqpUrls);
  const topology: WorkerTopology = { exchange: config.exchange, unroutable: config.unroutableExchange, deadLetterExchange: config.deadLetterExchange };

  let broker: BrokerConnection | undefined;
  let controller: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const limiters = new Map(consumers.map((consumer) => [consumer.name, createConcurrencyLimiter(consumer.concurrency)]));
  let consumerChannels: Channel[] = [];

  /** Republishes a delivery (retry tier, dead-letter queue) and waits for the broker's confirm. */
  function republish(channel: ConfirmChannel, exchange: string, routingKey: string, message: ConsumeMessage, headers: Record<string, unknown>): Promise<void> {
    const { properties } = message;
    const publishOptions: Options.Publish = {
      messageId: properties.messageId,
      type: properties.type,
      timestamp: properties.timestamp,
      contentType: properties.contentType,
      correlationId: properties.correlationId,
      appId: properties.appId,
      persistent: true,
      headers: { ...(properties.headers as Record<string, unknown> | undefined), ...headers },
    };
    return new Promise((resolve, reject) => {
      try {
        channel.publish(exchange, routingKey, message.content, publishOptions, (error: unknown) => {
          if (!error) return resolve();
          // A quorum queue that refused a publish (full, or leaderless for a moment) may
          // keep refusing this channel after it recovered: the next publish gets a fresh one.
          broker!.discardChannel(channel);
          reject(error);
        });
      } catch (error) {
        reject(error);
      }
    });
  }

  async function deadLetter(consumer: ResolvedConsumer, verdict: Extract<Verdict, { action: 'dead-letter' }>): Promise<void> {
    const letter: DeadLetter = {
      consumer: consumer.name,
      messageId: verdict.messageId,
      eventType: verdict.eventType,
      attempts: verdict.attempts,
      reason: verdict.reason,
      error: verdict.error,
    };
    logger.error(
      verdict.thrown === undefined ? letter : { ...letter, err: errorFor(verdict.thrown) },
      verdict.reason === 'malformed' ? 'malformed message dead-lettered' : 'poison message dead-lettered',
    );
    for (const hook of [consumer.onDeadLetter, options.onDeadLetter]) {
      try {
        await hook?.(letter);
      } catch (error) {
        logger.error({ err: errorFor(error), consumer: consumer.name, messageId: verdict.messageId }, 'onDeadLetter hook threw');
      }
    }
  }

  /** Carries out a verdict on the broker, then acknowledges the delivery. */
  async function act(channel: Channel, consumer: ResolvedConsumer, message: ConsumeMessage, verdict: Verdict): Promise<void> {
    // Asked for each time: a confirm channel that closed is re-opened by the connection.
    const confirms = verdict.action === 'ack' ? undefined : await broker!.confirmChannel();
    switch (verdict.action) {
      case 'ack':
        break;
      case 'retry': {
        const delay = retryDelayFor(consumer, verdict.nextAttempt);
        await republish(confirms!, '', retryQueueName(consumer.name, delay), message, { [HEADER_ATTEMPT]: verdict.nextAttempt, 'outbox-last-error': verdict.error.slice(0, 1000) });
        break;
      }
      case 'defer': {
        await republish(confirms!, '', retryQueueName(consumer.name, consumer.retryDelays[0]!), message, { [HEADER_ATTEMPT]: verdict.attempt });
        break;
      }
      case 'dead-letter': {
        await republish(confirms!, config.deadLetterExchange, dlqName(consumer.name), message, {
          [HEADER_DEAD_REASON]: verdict.reason,
          [HEADER_DEAD_ERROR]: verdict.error.slice(0, 2000),
          [HEADER_DEAD_CONSUMER]: consumer.name,
          [HEADER_DEAD_AT]: new Date().toISOString(),
          [HEADER_ATTEMPT]: verdict.attempts,
        });
        // Only now, with the DLQ's confirm in: a failure here leaves the delivery
        // unacknowledged, and its redelivery dead-letters it again.
        if (verdict.reason !== 'malformed' && verdict.messageId) {
          await recordInboxFailure(prismaQueryRows(options.prisma), consumer.name, verdict.messageId, 'dead', verdict.attempts, verdict.error);
        }
        await deadLetter(consumer, verdict);
        break;
      }
    }
    channel.ack(message);
  }

  const metrics = options.metrics ? createOutboxMetrics(options.metrics) : undefined;
  const OUTCOME = { retry: 'retried', 'dead-letter': 'dead_lettered', defer: 'deferred' } as const;
  const stats = createDeliveryStats(consumers.map((consumer) => consumer.name));
  const outcomeOf = (verdict: Verdict): DeliveryOutcome => {
    if (verdict.action === 'ack') return verdict.outcome === 'done' ? 'handled' : 'duplicate';
    return verdict.action === 'retry' ? 'retried' : verdict.action === 'defer' ? 'deferred' : 'dead-lettered';
  };
  /** Deliveries whose handler ran: those the handler percentiles are about. */
  const handlerRan = (verdict: Verdict) =>
    (verdict.action === 'ack' && verdict.outcome === 'done') || verdict.action === 'retry' || (verdict.action === 'dead-letter' && verdict.reason !== 'malformed');

  let summary: SummaryTimer | undefined;
  let summarySince = Date.now();
  /** The periodic info lines: one per consumer that did anything since the last ones (counted in memory by onDelivery). */
  function summarize(): Promise<void> {
    const sinceMs = Date.now() - summarySince;
    summarySince = Date.now();
    for (const counts of stats.take()) logger.info({ sinceMs, ...counts }, 'consumer summary');
    return Promise.resolve();
  }

  let databaseAway = false;
  const REQUEUE_PAUSE_MS = 1_000;
  async function onDelivery(channel: Channel, consumer: ResolvedConsumer, message: ConsumeMessage): Promise<void> {
    try {
      const startedAt = performance.now();
      const stopTimer = metrics?.handlerDuration.startTimer({ consumer: consumer.name });
      const verdict = await handleDelivery(message, { prisma: options.prisma, catalog, consumer, logger, transactionTimeoutMs: config.transactionTimeoutMs });
      const handlerMs = performance.now() - startedAt;
      stopTimer?.();
      metrics?.handled.inc({ consumer: consumer.name, outcome: verdict.action === 'ack' ? verdict.outcome : OUTCOME[verdict.action] });
      if (verdict.action === 'defer') {
        if (!databaseAway) logger.warn({ err: errorFor(verdict.thrown) }, 'database unavailable: deliveries deferred until it is back');
        databaseAway = true;
      } else if (databaseAway) {
        databaseAway = false;
        logger.info('database available again');
      }
      await act(channel, consumer, message, verdict);
      stats.record(consumer.name, outcomeOf(verdict), handlerRan(verdict) ? handlerMs : undefined);
    } catch (error) {
      stats.record(consumer.name, 'handed-back');
      // A republish the broker refused or never confirmed (a queue without a leader
      // during a node failure, a full queue), or a channel gone. Where the consumer
      // channel lives on, the delivery must be handed back: left unacknowledged on an
      // open channel, it would never come back. After a pause, so that a refusal that
      // lasts does not spin; the inbox turns a repeat of committed work into a skip.
      logger.warn({ err: errorFor(error), consumer: consumer.name, messageId: message.properties.messageId }, 'delivery not settled; handing it back to the broker');
      await sleep(REQUEUE_PAUSE_MS);
      try {
        channel.nack(message, false, true);
      } catch {
        // The channel is gone: the broker redelivers unacknowledged deliveries by itself.
      }
    }
  }

  async function consumeOnce(model: ChannelModel, signal: AbortSignal): Promise<void> {
    // Declares the topology (on the confirm channel) before consuming from it.
    await broker!.confirmChannel(signal);
    const channels: { channel: Channel; tag: string }[] = [];
    for (const consumer of consumers) {
      const channel = await model.createChannel();
      channel.on('error', (error: Error) => logger.warn({ err: errorFor(error), consumer: consumer.name }, 'consumer channel error'));
      // A consumer channel closed on its own (a channel error) would silently stop
      // its consumer: start the whole connection afresh instead.
      channel.on('close', () => {
        if (!signal.aborted) model.close().catch(() => {});
      });
      await channel.prefetch(consumer.prefetch);
      const limiter = limiters.get(consumer.name)!;
      const { consumerTag } = await channel.consume(consumer.name, (message) => {
        if (message) limiter.run(() => onDelivery(channel, consumer, message));
      });
      channels.push({ channel, tag: consumerTag });
    }
    consumerChannels = channels.map(({ channel }) => channel);
    logger.info({ consumers: consumers.map((consumer) => consumer.name) }, 'consuming');
    await new Promise<void>((resolve) => {
      model.once('close', () => resolve());
      // stop() may have come while the channels were being opened.
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    if (signal.aborted) {
      // Stop taking deliveries; those already prefetched but not started are requeued when the channel closes.
      await Promise.all(channels.map(({ channel, tag }) => channel.cancel(tag).catch(() => {})));
    }
  }

  async function run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const model = await broker!.connection(signal);
        await consumeOnce(model, signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        failures += 1;
        if (failures === 1) logger.warn({ err: errorFor(error) }, 'worker could not consume (broker unavailable or topology refused); retrying');
        await sleep(backoffDelay(failures, { initialMs: 200, maxMs: 15_000 }), signal);
      }
    }
  }

  return {
    async start() {
      if (loop) return;
      stopping = undefined;
      controller = new AbortController();
      broker = new BrokerConnection({
        urls: amqpUrls,
        logger,
        connectionName: config.workerId,
        setupChannel: async (channel) => {
          for (const consumer of consumers) await declareConsumerTopology(channel, topology, consumer);
        },
      });
      try {
        await registerConsumers(prismaQueryRows(options.prisma), consumers.map((consumer) => consumer.name));
        // Declare before returning, so that a caller publishing right after start() has queues bound.
        await broker.confirmChannel(controller.signal);
      } catch (error) {
        // Not started: close what this call opened (stop() has nothing to stop).
        controller.abort();
        await broker.close();
        broker = undefined;
        throw error;
      }
      stats.take();
      summarySince = Date.now();
      summary = startSummaryTimer(config.summaryIntervalMs, summarize);
      loop = run(controller.signal);
    },

    stop() {
      stopping ??= (async () => {
        if (!loop) return;
        controller!.abort();
        await loop;
        const drained = Promise.all([...limiters.values()].map((limiter) => limiter.drained()));
        const drainDeadline = new AbortController();
        const timedOut = await Promise.race([drained.then(() => false), sleep(config.drainTimeoutMs, drainDeadline.signal).then(() => !drainDeadline.signal.aborted)]);
        drainDeadline.abort();
        if (timedOut) logger.warn({ drainTimeoutMs: config.drainTimeoutMs }, 'handlers still running at the drain timeout; their deliveries will be redelivered');
        // Channels before the connection: a connection close can overtake acks still queued on a channel.
        await Promise.all(consumerChannels.map((channel) => channel.close().catch(() => {})));
        consumerChannels = [];
        await broker?.close();
        broker = undefined;
        loop = undefined;
        // The last summary: what was done since the previous one, drained handlers included.
        await summary?.stop();
        summary = undefined;
        logger.info('worker stopped');
      })();
      return stopping;
    },
  };
}
