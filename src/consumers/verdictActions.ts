// A delivery's verdict carried out on the broker: nothing more (ack), a republish
// to a retry tier (retry, defer) or to the dead-letter queue, each confirmed by the
// broker before the delivery is acknowledged. Ordered consumers: a parked key is told
// (log, hooks).
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { BrokerConnection } from '../broker/brokerConnection.js';
import { prismaQueryRows, type PrismaRootClient } from '../database/sqlStore.js';
import type { Logger } from '../logging/createLogger.js';
import { dlqName, retryDelayFor, retryQueueName } from '../broker/consumerTopology.js';
import {
  HEADER_ATTEMPT,
  HEADER_DEAD_AT,
  HEADER_DEAD_CONSUMER,
  HEADER_DEAD_ERROR,
  HEADER_DEAD_REASON,
  HEADER_LAST_ERROR,
  publishConfirmed,
  redeliveryProperties,
} from '../broker/wireFormat.js';
import type { DeadLetter, ParkedKey, ResolvedConsumer } from '../catalog/defineConsumer.js';
import type { Verdict } from './handleDelivery.js';
import { recordInboxFailure } from './inbox.js';

/**
 * Acknowledges or hands back a delivery once. Two verdicts can race for one
 * delivery (a stuck one handed back at its deadline, whose work then finishes), and
 * a second ack or nack of the same delivery tag is a channel error that closes the
 * consumer's channel.
 */
export interface Settlement {
  readonly settled: boolean;
  ack(): void;
  /** Back to the queue (counts towards a quorum queue's delivery limit). */
  requeue(): void;
}

export function settlementOf(channel: Channel, message: ConsumeMessage): Settlement {
  let settled = false;
  return {
    get settled() {
      return settled;
    },
    ack() {
      if (settled) return;
      settled = true;
      channel.ack(message);
    },
    requeue() {
      if (settled) return;
      settled = true;
      channel.nack(message, false, true);
    },
  };
}

export interface VerdictActionsContext extends VerdictReportsContext {
  /** The broker connection of the worker's current start. */
  broker: BrokerConnection;
  prisma: PrismaRootClient;
  deadLetterExchange: string;
}

/** Who is told of a dead letter or a parked key: the log, the consumer's hook, then the worker's. */
export interface VerdictReportsContext {
  logger: Logger;
  errorFor(error: unknown): Error;
  onDeadLetter?: (deadLetter: DeadLetter) => void | Promise<void>;
  onParked?: (parked: ParkedKey) => void | Promise<void>;
}

/** Tells of a dead letter or a parked key (the worker, and the test harness's in-memory mode). */
export function createVerdictReports(context: VerdictReportsContext) {
  const { logger, errorFor } = context;

  /** The consumer's hook, then the worker's: one that throws is logged, never raised. */
  async function callHooks<T extends { consumer: string; messageId: string | undefined; eventType: string | undefined }>(
    name: string,
    hooks: readonly (((value: T) => void | Promise<void>) | undefined)[],
    value: T,
  ): Promise<void> {
    for (const hook of hooks) {
      try {
        await hook?.(value);
      } catch (error) {
        logger.error({ err: errorFor(error), consumer: value.consumer, messageId: value.messageId, eventType: value.eventType }, `${name} hook threw`);
      }
    }
  }

  return {
    async deadLettered(consumer: ResolvedConsumer, verdict: Extract<Verdict, { action: 'dead-letter' }>): Promise<void> {
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
      await callHooks('onDeadLetter', [consumer.onDeadLetter, context.onDeadLetter], letter);
    },

    async parked(consumer: ResolvedConsumer, verdict: Extract<Verdict, { action: 'park' }>): Promise<void> {
      const parkedKey: ParkedKey = {
        consumer: consumer.name,
        orderingKey: verdict.orderingKey,
        messageId: verdict.messageId,
        eventType: verdict.eventType,
        attempts: verdict.attempts,
        reason: verdict.reason,
        error: verdict.error,
      };
      logger.error({ ...parkedKey, err: errorFor(verdict.thrown) }, 'key parked: its later messages wait for `outbox parked retry|skip`');
      await callHooks('onParked', [consumer.onParked, context.onParked], parkedKey);
    },
  };
}

export function createVerdictActions(context: VerdictActionsContext) {
  const reports = createVerdictReports(context);

  /** Republishes a delivery (retry tier, dead-letter queue) and waits for the broker's confirm. */
  function republish(channel: ConfirmChannel, exchange: string, routingKey: string, message: ConsumeMessage, headers: Record<string, unknown>): Promise<void> {
    return publishConfirmed(channel, exchange, routingKey, message.content, redeliveryProperties(message, headers)).catch((error: unknown) => {
      // A quorum queue that refused a publish (full, or leaderless for a moment) may
      // keep refusing this channel after it recovered: the next publish gets a fresh one.
      context.broker.discardChannel(channel);
      throw error;
    });
  }

  /** Carries out a verdict on the broker, then acknowledges the delivery. */
  async function act(consumer: ResolvedConsumer, message: ConsumeMessage, verdict: Verdict, settlement: Settlement): Promise<void> {
    // Asked for each time: a confirm channel that closed is re-opened by the connection.
    const confirms = verdict.action === 'ack' || verdict.action === 'park' ? undefined : await context.broker.confirmChannel();
    switch (verdict.action) {
      case 'ack':
        break;
      case 'park':
        await reports.parked(consumer, verdict);
        break;
      case 'retry': {
        const delay = retryDelayFor(consumer, verdict.nextAttempt);
        await republish(confirms!, '', retryQueueName(consumer.name, delay), message, {
          [HEADER_ATTEMPT]: verdict.nextAttempt,
          [HEADER_LAST_ERROR]: verdict.error.slice(0, 1000),
        });
        break;
      }
      case 'defer': {
        await republish(confirms!, '', retryQueueName(consumer.name, consumer.retryDelays[0]!), message, { [HEADER_ATTEMPT]: verdict.attempt });
        break;
      }
      case 'dead-letter': {
        await republish(confirms!, context.deadLetterExchange, dlqName(consumer.name), message, {
          [HEADER_DEAD_REASON]: verdict.reason,
          [HEADER_DEAD_ERROR]: verdict.error.slice(0, 2000),
          [HEADER_DEAD_CONSUMER]: consumer.name,
          [HEADER_DEAD_AT]: new Date().toISOString(),
          [HEADER_ATTEMPT]: verdict.attempts,
        });
        // Only now, with the DLQ's confirm in: a failure here leaves the delivery
        // unacknowledged, and its redelivery dead-letters it again.
        if (verdict.reason !== 'malformed' && verdict.messageId) {
          await recordInboxFailure(prismaQueryRows(context.prisma), consumer.name, verdict.messageId, 'dead', verdict.attempts, verdict.error);
        }
        await reports.deadLettered(consumer, verdict);
        break;
      }
    }
    settlement.ack();
  }

  return { act };
}

export type VerdictActions = ReturnType<typeof createVerdictActions>;
