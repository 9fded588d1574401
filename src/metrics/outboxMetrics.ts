// Prometheus metrics of the relay, the worker and the reconciler, registered on a
// registry the caller owns (so an app can expose them beside its own).
import { sqltag as sql } from '@prisma/client/runtime/client';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QueryRows } from '../database/sqlStore.js';

export interface OutboxMetrics {
  published: Counter;
  nacked: Counter<'reason'>;
  publishLatency: Histogram;
  handled: Counter<'consumer' | 'outcome'>;
  handlerDuration: Histogram<'consumer'>;
  rescheduled: Counter<'consumer'>;
}

const cache = new WeakMap<Registry, OutboxMetrics>();

/** The outbox's metrics on `registry` (created once per registry). */
export function createOutboxMetrics(registry: Registry): OutboxMetrics {
  const existing = cache.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const metrics: OutboxMetrics = {
    published: new Counter({ name: 'outbox_relay_published_total', help: 'Messages published and confirmed by the broker', registers }),
    nacked: new Counter({ name: 'outbox_relay_publish_failures_total', help: 'Publish attempts nacked or not confirmed in time', labelNames: ['reason'], registers }),
    publishLatency: new Histogram({
      name: 'outbox_relay_publish_latency_seconds',
      help: 'From the event row being written to its broker confirm',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    handled: new Counter({
      name: 'outbox_consumer_deliveries_total',
      help: 'Deliveries by consumer and outcome: done, duplicate, retried, dead_lettered, deferred',
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
    rescheduled: new Counter({ name: 'outbox_reconciler_rescheduled_total', help: 'Messages re-published by the reconciler', labelNames: ['consumer'], registers }),
  };
  cache.set(registry, metrics);
  return metrics;
}

/** Gauges read from the database at each scrape: the relay's backlog. */
export function registerBacklogGauges(registry: Registry, query: QueryRows): void {
  if (registry.getSingleMetric('outbox_pending_messages')) return;
  const read = async () => {
    const [row] = await query<{ pending: number; oldest: number | null }>(sql`
      SELECT count(*)::int AS "pending",
             (extract(epoch FROM now() - min(available_at) FILTER (WHERE available_at <= now())))::float8 AS "oldest"
        FROM outbox_message WHERE status = 'pending'`);
    return row!;
  };
  new Gauge({
    name: 'outbox_pending_messages',
    help: 'Outbox rows waiting to be published',
    registers: [registry],
    async collect() {
      this.set((await read()).pending);
    },
  });
  new Gauge({
    name: 'outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest due pending row: the relay lag',
    registers: [registry],
    async collect() {
      this.set((await read()).oldest ?? 0);
    },
  });
}
