// The worker's Prometheus metrics, recorded from its 'delivery:settled' events.
import type { Registry } from 'prom-client';
import type { ComponentEvents } from '../lifecycle/componentEvents.js';
import { createOutboxMetrics } from '../metrics/outboxMetrics.js';
import { messageIdTime } from '../outbox/newMessageId.js';
import type { DeliveryOutcome } from './deliveryStats.js';
import type { WorkerEvents } from './runDelivery.js';

/** The `outcome` label of outbox_consumer_deliveries_total; a delivery the broker would not take back is not counted. */
const OUTCOME_LABEL: Record<Exclude<DeliveryOutcome, 'handed-back'>, string> = {
  handled: 'done',
  duplicate: 'duplicate',
  retried: 'retried',
  'dead-lettered': 'dead_lettered',
  deferred: 'deferred',
  held: 'held',
  parked: 'parked',
};

export function recordDeliveryMetrics(events: ComponentEvents<WorkerEvents>, registry: Registry, consumers: readonly string[]): void {
  const metrics = createOutboxMetrics(registry);
  // Every series exists from the start at 0: an alert on increase() sees the first dead letter too.
  for (const consumer of consumers) for (const outcome of new Set(Object.values(OUTCOME_LABEL))) metrics.handled.inc({ consumer, outcome }, 0);
  events.on('delivery:settled', ({ consumer, messageId, eventType, outcome, durationMs, pastDeadline }) => {
    // Commit to handled, for side effects done now (not duplicates, which were done before).
    if (outcome === 'handled' && messageId !== undefined && eventType !== undefined) {
      const writtenAt = messageIdTime(messageId);
      if (writtenAt !== undefined) metrics.handledLag.observe({ consumer, event_type: eventType }, Math.max(0, Date.now() - writtenAt) / 1000);
    }
    if (durationMs !== undefined) metrics.handlerDuration.observe({ consumer }, durationMs / 1000);
    // Past its deadline, a delivery goes back through the retry queue as a deferral.
    const label = outcome === 'handed-back' ? (pastDeadline ? 'deferred' : undefined) : OUTCOME_LABEL[outcome];
    if (label) metrics.handled.inc({ consumer, outcome: label });
  });
}
