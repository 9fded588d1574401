// Prometheus metrics of the relay, the worker and the reconciler, registered on a
// registry the caller owns (so an app can expose them beside its own).
import { createRequire } from 'node:module';
import type { Counter, Histogram, Registry } from 'prom-client';

/**
 * prom-client, loaded when a component is handed a registry (the caller has loaded it
 * then anyway): an app that only publishes never loads it.
 */
export const promClient = (): typeof import('prom-client') => createRequire(import.meta.url)('prom-client') as typeof import('prom-client');

export interface OutboxMetrics {
  published: Counter;
  claims: Counter<'result'>;
  nacked: Counter<'reason'>;
  failed: Counter<'event_type'>;
  publishLatency: Histogram<'event_type'>;
  handled: Counter<'consumer' | 'outcome'>;
  handlerDuration: Histogram<'consumer'>;
  handledLag: Histogram<'consumer' | 'event_type'>;
}

/** Lag buckets: from milliseconds (a healthy pipeline) to an hour (the reconciler's default period). */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

const cache = new WeakMap<Registry, OutboxMetrics>();

/** The outbox's metrics on `registry` (created once per registry). */
export function createOutboxMetrics(registry: Registry): OutboxMetrics {
  const existing = cache.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const { Counter, Histogram } = promClient();
  const metrics: OutboxMetrics = {
    published: new Counter({ name: 'outbox_relay_published_total', help: 'Messages published and confirmed by the broker', registers }),
    claims: new Counter({
      name: 'outbox_relay_claims_total',
      help: 'Claim statements of the relay, by result: rows (a batch) or empty (nothing was due)',
      labelNames: ['result'],
      registers,
    }),
    nacked: new Counter({
      name: 'outbox_relay_publish_failures_total',
      help: 'Publish attempts nacked or not confirmed in time',
      labelNames: ['reason'],
      registers,
    }),
    failed: new Counter({
      name: 'outbox_relay_failed_messages_total',
      help: 'Outbox rows marked failed after their last publish attempt (retry them with outbox retry-failed)',
      labelNames: ['event_type'],
      registers,
    }),
    publishLatency: new Histogram({
      name: 'outbox_relay_publish_latency_seconds',
      help: 'Commit to published: from the event row being written to its broker confirm, by event type',
      labelNames: ['event_type'],
      buckets: LAG_BUCKETS,
      registers,
    }),
    handled: new Counter({
      name: 'outbox_consumer_deliveries_total',
      help: 'Deliveries by consumer and outcome: done, duplicate, retried, dead_lettered, deferred, held and parked (ordered consumers)',
      labelNames: ['consumer', 'outcome'],
      registers,
    }),
    handlerDuration: new Histogram({
      name: 'outbox_consumer_handler_duration_seconds',
      help: 'One delivery: inbox, handler, commit',
      labelNames: ['consumer'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    handledLag: new Histogram({
      name: 'outbox_consumer_handled_lag_seconds',
      help: 'Commit to handled: from the event being written (its UUIDv7 id) to its side effect committed, by consumer and event type',
      labelNames: ['consumer', 'event_type'],
      buckets: LAG_BUCKETS,
      registers,
    }),
  };
  cache.set(registry, metrics);
  return metrics;
}
