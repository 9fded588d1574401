// Gauges of the relay's backlog, read from the database at each scrape.
import type { Registry } from 'prom-client';
import { readPendingBacklog } from '../database/relayBacklog.js';
import type { QueryRows } from '../database/sqlStore.js';
import { promClient } from '../metrics/outboxMetrics.js';

export function registerBacklogGauges(registry: Registry, query: QueryRows): void {
  if (registry.getSingleMetric('outbox_pending_messages')) return;
  const { Gauge } = promClient();
  // One read serves both gauges of a scrape (they are collected one after the other).
  let reading: Promise<Awaited<ReturnType<typeof readPendingBacklog>>> | undefined;
  const read = () => {
    reading ??= readPendingBacklog(query).finally(() => setImmediate(() => (reading = undefined)));
    return reading;
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
      this.set(((await read()).oldestDueMs ?? 0) / 1000);
    },
  });
}
