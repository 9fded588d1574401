// What each consumer owns on the broker, named so the management console reads
// well: "send-welcome-email" (work queue), "send-welcome-email.retry.10s" (delay
// tiers, dead-lettering back to the work queue), "send-welcome-email.dlq". An
// ordered consumer has partition queues instead of one work queue:
// "<name>.partitions" (a consistent-hash exchange on the partition key header) feeds
// "<name>.p00"... "<name>.p15", each consumed by one worker at a time (single active
// consumer); its retry tiers dead-letter back into that exchange, so a retried
// message returns to its key's partition.
import type { EventEmitter } from 'node:events';
import type { Channel } from 'amqplib';
import { z } from 'zod';
import { declareRelayTopology, type RelayTopology } from './declareRelayTopology.js';
import { DEFAULT_DEAD_LETTER_EXCHANGE, DEFAULT_EXCHANGE, DEFAULT_UNROUTABLE_EXCHANGE } from '../defaults.js';
import { HEADER_PARTITION_KEY } from './wireFormat.js';

/** What the broker needs to know of a consumer to declare its queues (a resolved consumer definition has it). */
export interface ConsumerQueues {
  name: string;
  /** Topic patterns its work queue is bound with. */
  events: readonly string[];
  queueType: 'quorum' | 'classic';
  deliveryLimit: number;
  /** One TTL retry queue per distinct delay. */
  retryDelays: readonly number[];
  /** Partition queues behind a consistent-hash exchange instead of one work queue. */
  ordered: boolean;
  /** How many (ordered consumers). */
  partitions: number;
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

/** An ordered consumer's consistent-hash exchange, which spreads its events over its partition queues. */
export const partitionExchangeName = (consumer: string) => `${consumer}.partitions`;

/** An ordered consumer's partition queues, "<name>.p00"... in binding order (the hash ring's buckets). */
export function partitionQueueNames(consumer: Pick<ConsumerQueues, 'name' | 'partitions'>): string[] {
  const width = String(consumer.partitions - 1).length < 2 ? 2 : String(consumer.partitions - 1).length;
  return Array.from({ length: consumer.partitions }, (_, index) => `${consumer.name}.p${String(index).padStart(width, '0')}`);
}

/** The queues a worker consumes from: the work queue, or an ordered consumer's partitions. */
export const consumedQueues = (consumer: ConsumerQueues): string[] => (consumer.ordered ? partitionQueueNames(consumer) : [consumer.name]);

/** Where a message meant for this consumer alone is published (retries, reconciler, replays): its work queue, or its partition exchange. */
export interface ConsumerEntry {
  exchange: string;
  routingKey: string;
}

export const consumerEntry = (consumer: Pick<ConsumerQueues, 'name' | 'ordered'>): ConsumerEntry =>
  consumer.ordered ? { exchange: partitionExchangeName(consumer.name), routingKey: '' } : { exchange: '', routingKey: consumer.name };

/** Every queue the consumer owns: consumed, retry tiers, DLQ. */
export const ownedQueues = (consumer: ConsumerQueues): string[] => [
  ...consumedQueues(consumer),
  ...[...new Set(consumer.retryDelays)].map((delay) => retryQueueName(consumer.name, delay)),
  dlqName(consumer.name),
];

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
  const workQueueArguments = (extra: Record<string, unknown>) =>
    queueArguments(consumer, {
      'x-dead-letter-exchange': topology.deadLetterExchange,
      'x-dead-letter-routing-key': dlq,
      ...(consumer.queueType === 'quorum' ? { 'x-delivery-limit': consumer.deliveryLimit } : {}),
      ...extra,
    });
  if (consumer.ordered) {
    await declarePartitions(channel, topology, consumer, workQueueArguments({ 'x-single-active-consumer': true }));
  } else {
    await channel.assertQueue(consumer.name, { durable: true, arguments: workQueueArguments({}) });
    for (const pattern of consumer.events) await channel.bindQueue(consumer.name, topology.exchange, pattern);
  }

  const entry = consumerEntry(consumer);
  for (const delay of new Set(consumer.retryDelays)) {
    await channel.assertQueue(retryQueueName(consumer.name, delay), {
      durable: true,
      arguments: queueArguments(consumer, {
        'x-message-ttl': delay,
        'x-dead-letter-exchange': entry.exchange,
        ...(consumer.ordered ? {} : { 'x-dead-letter-routing-key': entry.routingKey }),
      }),
    });
  }
}

/**
 * The consistent-hash exchange, bound to the events exchange by the consumer's
 * patterns, and the partition queues bound to it with equal weight, in order (a
 * binding that exists already is not bound twice, so the ring keeps its buckets).
 * Hashing on a header the relay sets (the ordering key, or the message id for an
 * event without one) sends all of a key's events to one partition.
 */
async function declarePartitions(channel: Channel, topology: WorkerTopology, consumer: ConsumerQueues, queueArgs: Record<string, unknown>): Promise<void> {
  const exchange = partitionExchangeName(consumer.name);
  // An unknown exchange type (the plugin not enabled) is a connection error: the broker
  // closes the connection, and the declaration fails only with "channel ended". The
  // connection's close says why: that is the error to raise.
  const connection = (channel as unknown as { connection?: EventEmitter }).connection;
  let closedBy: unknown;
  const onClose = (error?: unknown) => (closedBy = error);
  connection?.on('close', onClose);
  try {
    await channel.assertExchange(exchange, 'x-consistent-hash', { durable: true, arguments: { 'hash-header': HEADER_PARTITION_KEY } });
  } catch (error) {
    throw closedBy instanceof Error && /unknown exchange type/.test(closedBy.message) ? closedBy : error;
  } finally {
    connection?.off('close', onClose);
  }
  for (const queue of partitionQueueNames(consumer)) {
    await channel.assertQueue(queue, { durable: true, arguments: queueArgs });
    await channel.bindQueue(queue, exchange, '1');
  }
  for (const pattern of consumer.events) await channel.bindExchange(exchange, topology.exchange, pattern);
}
