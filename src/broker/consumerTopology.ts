// What each consumer owns on the broker, named so the management console reads
// well: "send-welcome-email" (work queue), "send-welcome-email.retry.10s" (delay
// tiers, dead-lettering back to the work queue), "send-welcome-email.dlq".
import type { Channel } from 'amqplib';
import { z } from 'zod';
import { declareRelayTopology, type RelayTopology } from './declareRelayTopology.js';
import { DEFAULT_DEAD_LETTER_EXCHANGE, DEFAULT_EXCHANGE, DEFAULT_UNROUTABLE_EXCHANGE } from '../defaults.js';

/** What the broker needs to know of a consumer to declare its queues (a resolved consumer definition has it). */
export interface ConsumerQueues {
  name: string;
  /** Topic patterns its work queue is bound with. */
  events: readonly string[];
  queueType: 'quorum' | 'classic';
  deliveryLimit: number;
  /** One TTL retry queue per distinct delay. */
  retryDelays: readonly number[];
}

export interface WorkerTopology extends RelayTopology {
  /** Direct exchange routing dead letters to "<consumer>.dlq". */
  deadLetterExchange: string;
}

/** Exchange names a worker and the reconciler must agree on, with their defaults. */
export const workerTopologyOptions = {
  exchange: z.string().min(1).max(255).default(DEFAULT_EXCHANGE),
  unroutableExchange: z.string().min(1).max(255).default(DEFAULT_UNROUTABLE_EXCHANGE),
  deadLetterExchange: z.string().min(1).max(255).default(DEFAULT_DEAD_LETTER_EXCHANGE),
};

/** The topology under the given (or default) exchange names: what the CLI's worker, reconciler and setup share. */
export function workerTopology(names: { exchange?: string; unroutableExchange?: string; deadLetterExchange?: string } = {}): WorkerTopology {
  const parsed = z.object(workerTopologyOptions).parse(names);
  return { exchange: parsed.exchange, unroutable: parsed.unroutableExchange, deadLetterExchange: parsed.deadLetterExchange };
}

export const dlqName = (consumer: string) => `${consumer}.dlq`;

function formatDelay(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export const retryQueueName = (consumer: string, delayMs: number) => `${consumer}.retry.${formatDelay(delayMs)}`;

/** The delay before attempt `nextAttempt` (2 = the first retry); the last tier repeats. */
export function retryDelayFor(consumer: ConsumerQueues, nextAttempt: number): number {
  const delays = consumer.retryDelays;
  return delays[Math.min(nextAttempt - 2, delays.length - 1)]!;
}

function queueArguments(consumer: ConsumerQueues, extra: Record<string, unknown>): Record<string, unknown> {
  if (consumer.queueType === 'classic') return extra;
  // Quorum: replicated; dead letters reach their target at least once (which needs reject-publish).
  return { 'x-queue-type': 'quorum', 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish', ...extra };
}

/** Declares (idempotently) the exchanges and this consumer's queues and bindings. */
export async function declareConsumerTopology(channel: Channel, topology: WorkerTopology, consumer: ConsumerQueues): Promise<void> {
  await declareRelayTopology(channel, topology);
  await channel.assertExchange(topology.deadLetterExchange, 'direct', { durable: true });

  const dlq = dlqName(consumer.name);
  await channel.assertQueue(dlq, { durable: true, arguments: consumer.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {} });
  await channel.bindQueue(dlq, topology.deadLetterExchange, dlq);

  // Messages a crash loop delivers more than deliveryLimit times go to the DLQ by the broker's own hand.
  await channel.assertQueue(consumer.name, {
    durable: true,
    arguments: queueArguments(consumer, {
      'x-dead-letter-exchange': topology.deadLetterExchange,
      'x-dead-letter-routing-key': dlq,
      ...(consumer.queueType === 'quorum' ? { 'x-delivery-limit': consumer.deliveryLimit } : {}),
    }),
  });
  for (const pattern of consumer.events) await channel.bindQueue(consumer.name, topology.exchange, pattern);

  for (const delay of new Set(consumer.retryDelays)) {
    await channel.assertQueue(retryQueueName(consumer.name, delay), {
      durable: true,
      arguments: queueArguments(consumer, {
        'x-message-ttl': delay,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': consumer.name,
      }),
    });
  }
}
