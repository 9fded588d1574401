import type { Channel } from 'amqplib';

export interface RelayTopology {
  /** The durable topic exchange events are published to. */
  exchange: string;
  /** Fanout alternate exchange of `exchange`, bound to a durable queue of the same name. */
  unroutable: string;
}

/**
 * Declares (idempotently) what the relay publishes into. A message no binding
 * matches goes to the alternate exchange and waits in its queue, visible in the
 * management console, instead of being dropped while the relay marks it sent.
 */
export async function declareRelayTopology(channel: Channel, topology: RelayTopology): Promise<void> {
  await channel.assertExchange(topology.unroutable, 'fanout', { durable: true });
  // Quorum: replicated across a cluster's nodes, like the consumers' queues.
  await channel.assertQueue(topology.unroutable, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(topology.unroutable, topology.unroutable, '');
  await channel.assertExchange(topology.exchange, 'topic', { durable: true, alternateExchange: topology.unroutable });
}
