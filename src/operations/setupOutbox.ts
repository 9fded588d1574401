// `outbox setup`: what a deploy does before starting processes. Declares the
// exchanges and every consumer's queues (work, retry tiers, DLQ) and bindings, and
// registers the consumers, so an event committed after setup is routed to, and owed
// to, every configured consumer whatever order the relay and workers start in.
// Idempotent: the same declarations the worker makes at start.
import type { Channel } from 'amqplib';
import { declareConsumerTopology, ownedQueues, partitionExchangeName, type WorkerTopology } from '../broker/consumerTopology.js';
import { registerConsumers } from '../consumers/registerConsumers.js';
import { resolveConsumerSet } from '../consumers/resolveConsumerSet.js';
import { preflightDatabase } from '../database/preflightDatabase.js';
import type { QueryRows } from '../database/sqlStore.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import { createEventCatalog } from '../catalog/eventCatalog.js';
import { declareRelayTopology } from '../broker/declareRelayTopology.js';

export interface SetupOptions {
  query: QueryRows;
  /** A channel of a connection the caller owns; a refused declaration closes it. */
  openChannel(): Promise<Channel>;
  events: readonly EventDefinition[];
  consumers: readonly unknown[];
  topology: WorkerTopology;
}

export interface ConsumerSetup {
  consumer: string;
  queues: string[];
  bindings: string[];
  /** First registered by this run (events written from now on are owed to it). */
  newlyRegistered: boolean;
}

export interface SetupReport {
  exchanges: string[];
  consumers: ConsumerSetup[];
}

export async function setupOutbox(options: SetupOptions): Promise<SetupReport> {
  const consumers = resolveConsumerSet(options.consumers, createEventCatalog(options.events));
  await preflightDatabase(options.query);

  const { topology } = options;
  const channel = await options.openChannel();
  // A refused declaration (a queue with other arguments) closes the channel and rejects
  // the awaited call, which the CLI reports as OUTBOX_TOPOLOGY_CONFLICT; the 'error'
  // event must not go unheard.
  channel.on('error', () => {});
  await declareRelayTopology(channel, topology);
  for (const consumer of consumers) await declareConsumerTopology(channel, topology, consumer);
  await channel.close().catch(() => {});

  const registered = await registerConsumers(
    options.query,
    consumers.map((consumer) => consumer.name),
  );
  return {
    exchanges: [topology.exchange, topology.unroutable, topology.deadLetterExchange],
    consumers: consumers.map((consumer) => ({
      consumer: consumer.name,
      queues: ownedQueues(consumer),
      bindings: consumer.events.map(
        (pattern) => `${topology.exchange} -> ${consumer.ordered ? `${partitionExchangeName(consumer.name)} (x-consistent-hash)` : consumer.name} (${pattern})`,
      ),
      newlyRegistered: registered.includes(consumer.name),
    })),
  };
}
