// One delivery, from the consumer's channel to its settlement: handled within a
// deadline, its verdict carried out on the broker, counted. A delivery still
// unhandled at its deadline (a database connection that went silent holds it) is
// handed back through the first retry tier and its concurrency slot freed: a
// connection that never answers cannot wedge a consumer. If its transaction
// commits after all, the inbox turns the redelivery into a skip.
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../logging/createLogger.js';
import type { ComponentEvents } from '../lifecycle/componentEvents.js';
import { sleep } from '../timing/sleep.js';
import { traceConsume } from '../tracing/tracing.js';
import { attemptOf } from './decodeDelivery.js';
import { retryDelayFor } from '../broker/consumerTopology.js';
import type { Pause } from './concurrencyLimiter.js';
import type { ResolvedConsumer } from '../catalog/defineConsumer.js';
import type { DeliveryOutcome } from './deliveryStats.js';
import { handleDelivery, type DeliveryContext, type Verdict } from './handleDelivery.js';
import { settlementOf, type Settlement, type VerdictActions } from './verdictActions.js';
import type { WorkerHealth } from './workerHealth.js';

export interface DeliveryRunnerContext {
  /** What handleDelivery needs, but the consumer. */
  handling: Omit<DeliveryContext, 'consumer'>;
  /** How long a delivery may take to get its verdict (transaction, handler, failure record). */
  deliveryTimeoutMs: number;
  actions: VerdictActions;
  /** Where each settled delivery is told (the summary's counts and the metrics listen). */
  events: ComponentEvents<WorkerEvents>;
  health: WorkerHealth;
  logger: Logger;
  errorFor(error: unknown): Error;
}

export interface SettledDelivery {
  consumer: string;
  messageId: string | undefined;
  eventType: string | undefined;
  outcome: DeliveryOutcome;
  /** From delivery to verdict, when a verdict came (not for a delivery handed back). */
  durationMs?: number;
  /** The consumer's handler ran (the handler percentiles are about these). */
  handlerRan: boolean;
  /** Handed back because no verdict came before the delivery deadline (rather than one the broker would not take). */
  pastDeadline?: boolean;
}

export interface WorkerEvents {
  'delivery:settled': [SettledDelivery];
}

/** What a log line about one delivery carries. */
export interface About {
  consumer: string;
  messageId: string | undefined;
  eventType: string | undefined;
}

/** A verdict that could not be carried out is handed back after this: a refusal that lasts does not spin. */
const REQUEUE_PAUSE_MS = 1_000;
export const STUCK = Symbol('stuck');

const OUTCOME_OF_ACK = { done: 'handled', duplicate: 'duplicate', held: 'held', parked: 'parked' } as const;
const outcomeOf = (verdict: Verdict): DeliveryOutcome => {
  if (verdict.action === 'ack') return OUTCOME_OF_ACK[verdict.outcome];
  if (verdict.action === 'park') return 'parked';
  return verdict.action === 'retry' ? 'retried' : verdict.action === 'defer' ? 'deferred' : 'dead-lettered';
};
/** What a verdict failed with, for the delivery's span (undefined: it did not fail). */
const failureOf = (verdict: Verdict): unknown => (verdict.action === 'ack' ? undefined : (verdict.thrown ?? verdict.error));
/** Deliveries whose handler ran: those the handler percentiles are about. */
const handlerRan = (verdict: Verdict) =>
  (verdict.action === 'ack' && verdict.outcome === 'done') ||
  verdict.action === 'retry' ||
  verdict.action === 'park' ||
  (verdict.action === 'dead-letter' && verdict.reason !== 'malformed');

/** `work`'s value, or STUCK if it has not settled within `ms` (it goes on). */
export async function beforeDeadline<T>(work: Promise<T>, ms: number): Promise<T | typeof STUCK> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof STUCK>((resolve) => {
    timer = setTimeout(() => resolve(STUCK), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export function createDeliveryRunner(context: DeliveryRunnerContext) {
  const { actions, events, health, logger, errorFor } = context;
  let databaseAway = false;

  /** One line when the database goes away (deliveries deferred), one when it answers again. */
  function noteDatabase(verdict: Verdict, about: About): void {
    if (verdict.action === 'defer') {
      health.database.failed(verdict.thrown);
      if (!databaseAway) logger.warn({ ...about, err: errorFor(verdict.thrown) }, 'database unavailable: deliveries deferred until it is back');
      databaseAway = true;
      return;
    }
    // A malformed delivery is dead-lettered without a word to the database.
    if (verdict.action === 'dead-letter' && verdict.reason === 'malformed') return;
    health.database.succeeded();
    if (databaseAway) {
      databaseAway = false;
      logger.info(about, 'database available again');
    }
  }

  async function handBack(
    consumer: ResolvedConsumer,
    message: ConsumeMessage,
    handling: Promise<unknown>,
    settlement: Settlement,
    about: About,
  ): Promise<void> {
    // The work goes on, holding its database connection, until its query fails or is
    // answered; it is reported stuck (GET /health) until then. What it ends with no
    // longer settles anything: this delivery is settled here.
    const unstuck = health.stuck(consumer.name, about.messageId);
    handling.then(
      () => {
        unstuck();
        logger.debug(about, 'stuck delivery finished after it was handed back');
      },
      (error: unknown) => {
        unstuck();
        logger.debug({ ...about, err: errorFor(error) }, 'stuck delivery failed after it was handed back');
      },
    );
    const error = `no verdict within the delivery deadline (${context.deliveryTimeoutMs} ms)`;
    health.database.failed(new Error(error));
    logger.warn(
      { ...about, deliveryTimeoutMs: context.deliveryTimeoutMs },
      'delivery stuck past its deadline (the database does not answer); handing it back through the retry queue',
    );
    const verdict: Verdict = {
      action: 'defer',
      messageId: about.messageId ?? '',
      eventType: about.eventType ?? '',
      attempt: attemptOf(message),
      error,
      thrown: undefined,
    };
    await actions.act(consumer, message, verdict, settlement);
    events.emit('delivery:settled', { ...about, outcome: 'handed-back', handlerRan: false, pastDeadline: true });
  }

  /**
   * `channelOpen`: false once the delivery's channel closed (nothing to hand back then:
   * the broker redelivers). `pause`: the limiter's, for an ordered consumer's retries in place.
   */
  async function runDelivery(
    channel: Channel,
    consumer: ResolvedConsumer,
    message: ConsumeMessage,
    channelOpen: () => boolean = () => true,
    pause?: Pause,
  ): Promise<void> {
    const settlement = settlementOf(channel, message);
    const { messageId, type } = message.properties as { messageId?: unknown; type?: unknown };
    const about: About = {
      consumer: consumer.name,
      messageId: typeof messageId === 'string' ? messageId : undefined,
      eventType: typeof type === 'string' ? type : message.fields.routingKey,
    };
    // The outbox.consume span, when the app traces: the handler runs with it active.
    const traced = traceConsume(consumer.name, {
      id: about.messageId ?? '',
      eventType: about.eventType ?? '',
      traceparent: message.properties.headers?.traceparent,
      attempt: attemptOf(message),
    });
    const handle = (attempt?: number) => {
      const work = () => handleDelivery(message, { ...context.handling, consumer }, attempt);
      return traced ? traced.run(work) : work();
    };
    try {
      let startedAt = performance.now();
      let handling = handle();
      let verdict = await beforeDeadline(handling, context.deliveryTimeoutMs);
      // Ordered: a failed attempt is retried here, after its delay, with the delivery
      // unacknowledged and its key's later deliveries waiting behind it in this worker
      // (a retry queue would let them arrive first, each to be held). The slot is given
      // up meanwhile: other keys go on.
      while (consumer.ordered && pause && verdict !== STUCK && verdict.action === 'retry') {
        noteDatabase(verdict, about);
        events.emit('delivery:settled', { ...about, outcome: 'retried', durationMs: performance.now() - startedAt, handlerRan: true });
        const nextAttempt = verdict.nextAttempt;
        await pause(retryDelayFor(consumer, nextAttempt));
        // Closed meanwhile: the broker has handed it to a worker again.
        if (!channelOpen()) {
          traced?.end('handed-back', 'the channel closed between attempts');
          return;
        }
        startedAt = performance.now();
        handling = handle(nextAttempt);
        verdict = await beforeDeadline(handling, context.deliveryTimeoutMs);
      }
      if (verdict === STUCK) {
        traced?.end('handed-back', `no verdict within the delivery deadline (${context.deliveryTimeoutMs} ms)`);
        return await handBack(consumer, message, handling, settlement, about);
      }
      const durationMs = performance.now() - startedAt;
      noteDatabase(verdict, about);
      await actions.act(consumer, message, verdict, settlement);
      traced?.end(outcomeOf(verdict), failureOf(verdict));
      events.emit('delivery:settled', { ...about, outcome: outcomeOf(verdict), durationMs, handlerRan: handlerRan(verdict) });
    } catch (error) {
      traced?.end('handed-back', error);
      events.emit('delivery:settled', { ...about, outcome: 'handed-back', handlerRan: false });
      // A republish the broker refused or never confirmed (a queue without a leader
      // during a node failure, a full queue), or a channel gone. Where the consumer
      // channel lives on, the delivery must be handed back: left unacknowledged on an
      // open channel, it would never come back. After a pause, so that a refusal that
      // lasts does not spin; the inbox turns a repeat of committed work into a skip.
      if (!channelOpen()) {
        logger.debug({ ...about, err: errorFor(error) }, 'delivery not settled: its channel closed; the broker redelivers it');
        return;
      }
      logger.warn({ ...about, err: errorFor(error) }, 'delivery not settled; handing it back to the broker');
      await sleep(REQUEUE_PAUSE_MS);
      try {
        settlement.requeue();
      } catch {
        // The channel is gone: the broker redelivers unacknowledged deliveries by itself.
      }
    }
  }
  // handBack and noteDatabase serve a batched consumer's groups too (runDeliveryGroup.ts).
  return Object.assign(runDelivery, { handBack, noteDatabase });
}

export type DeliveryRunner = ReturnType<typeof createDeliveryRunner>;
