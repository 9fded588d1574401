import { OutboxError } from '../errors.js';
import type { EventCatalog } from '../catalog/eventCatalog.js';
import { assertPatternsMatch, resolveConsumer, type ResolvedConsumer } from '../catalog/defineConsumer.js';

/**
 * A config's consumers, validated together against the catalog: unique names (each
 * names a queue), and every pattern matching at least one event type.
 */
export function resolveConsumerSet(definitions: readonly unknown[], catalog: EventCatalog): ResolvedConsumer[] {
  const consumers = definitions.map(resolveConsumer);
  const names = new Set<string>();
  for (const consumer of consumers) {
    if (names.has(consumer.name)) throw new OutboxError('OUTBOX_INVALID_CONSUMER', `two consumers are named ${consumer.name}`);
    names.add(consumer.name);
    assertPatternsMatch(consumer, catalog);
  }
  return consumers;
}
