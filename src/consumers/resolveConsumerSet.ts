import { OutboxError } from '../errors.js';
import type { EventCatalog } from '../outbox/eventCatalog.js';
import { resolveConsumer, type ResolvedConsumer } from './defineConsumer.js';
import { matchesTopic } from './topicPattern.js';

/**
 * A config's consumers, validated together against the catalog: unique names (each
 * names a queue), and every pattern matching at least one event type (a typo would
 * otherwise bind a queue that never receives anything).
 */
export function resolveConsumerSet(definitions: readonly unknown[], catalog: EventCatalog): ResolvedConsumer[] {
  const consumers = definitions.map(resolveConsumer);
  const names = new Set<string>();
  for (const consumer of consumers) {
    if (names.has(consumer.name)) throw new OutboxError('OUTBOX_INVALID_CONSUMER', `two consumers are named ${consumer.name}`);
    names.add(consumer.name);
    for (const pattern of consumer.events) {
      if (!catalog.types.some((type) => matchesTopic(pattern, type))) {
        throw new OutboxError('OUTBOX_INVALID_CONSUMER', `consumer ${consumer.name}: pattern ${JSON.stringify(pattern)} matches no event of the catalog (${catalog.types.join(', ')})`);
      }
    }
  }
  return consumers;
}
