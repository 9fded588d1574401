// The reconciler's Prometheus metrics, recorded from its events: what it re-published,
// how its runs ended and when, and how old the oldest side effect not done was.
import type { Counter, Gauge, Registry } from 'prom-client';
import type { ComponentEvents } from '../lifecycle/componentEvents.js';
import { promClient } from '../metrics/outboxMetrics.js';
import type { ReconcilerEvents } from './createReconciler.js';

export function recordReconcilerMetrics(events: ComponentEvents<ReconcilerEvents>, registry: Registry, consumers: readonly string[]): void {
  const client = promClient();
  const registers = [registry];
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  const rescheduled =
    existing<Counter<'consumer'>>('outbox_reconciler_rescheduled_total') ??
    new client.Counter({ name: 'outbox_reconciler_rescheduled_total', help: 'Messages re-published by the reconciler', labelNames: ['consumer'], registers });
  const runs =
    existing<Counter<'status'>>('outbox_reconciler_runs_total') ??
    new client.Counter({
      name: 'outbox_reconciler_runs_total',
      help: 'Reconciler runs by how they ended: done, skipped (another replica held the lock) or failed (an outage; the next run tries again)',
      labelNames: ['status'],
      registers,
    });
  const lastRun =
    existing<Gauge>('outbox_reconciler_last_run_timestamp_seconds') ??
    new client.Gauge({
      name: 'outbox_reconciler_last_run_timestamp_seconds',
      help: 'When the last reconciler run that did not fail ended (done, or skipped for another replica), Unix seconds; 0 before the first',
      registers,
    });
  const oldestNotDone =
    existing<Gauge<'consumer'>>('outbox_consumer_oldest_not_done_age_seconds') ??
    new client.Gauge({
      name: 'outbox_consumer_oldest_not_done_age_seconds',
      help: 'Per consumer, the age of the oldest owed side effect not done (past the grace period) when the last reconciler run looked; 0: none',
      labelNames: ['consumer'],
      registers,
    });

  // Every series exists from the start at 0: an alert on increase() sees the first failed run too.
  for (const status of ['done', 'skipped', 'failed']) runs.inc({ status }, 0);
  for (const consumer of consumers) rescheduled.inc({ consumer }, 0);
  events.on('consumer:rescheduled', ({ consumer, count }) => rescheduled.inc({ consumer }, count));
  events.on('run:ended', ({ status, report }) => {
    runs.inc({ status });
    if (status === 'failed') return;
    lastRun.set(Date.now() / 1000);
    if (status !== 'done' || !report) return;
    // A run that found nothing for a consumer it no longer has drops that consumer's series.
    oldestNotDone.reset();
    for (const consumer of report.consumers) {
      const ageMs = consumer.oldestNotDoneAt === null ? 0 : Math.max(0, Date.now() - Date.parse(consumer.oldestNotDoneAt));
      oldestNotDone.set({ consumer: consumer.consumer }, ageMs / 1000);
    }
  });
}
