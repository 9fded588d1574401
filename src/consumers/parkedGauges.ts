// Gauges of ordered consumers' parked keys, read from the database at each scrape.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { Registry } from 'prom-client';
import type { QueryRows } from '../database/sqlStore.js';
import { promClient } from '../metrics/outboxMetrics.js';

interface ParkedReading {
  consumer: string;
  keys: number;
  oldestAgeMs: number;
}

export function registerParkedGauges(registry: Registry, query: QueryRows, consumers: readonly string[]): void {
  if (consumers.length === 0 || registry.getSingleMetric('outbox_consumer_parked_keys')) return;
  const { Gauge } = promClient();
  // One read serves both gauges of a scrape (they are collected one after the other).
  let reading: Promise<ParkedReading[]> | undefined;
  const read = () => {
    reading ??= query<ParkedReading>(sql`
      SELECT c.name AS "consumer", count(k.parked_at)::int AS "keys",
             coalesce((extract(epoch FROM now() - min(k.parked_at)) * 1000)::bigint, 0)::int AS "oldestAgeMs"
        FROM unnest(${consumers}::varchar[]) AS c(name)
        LEFT JOIN outbox_ordered_key k ON k.consumer = c.name AND k.parked_at IS NOT NULL
       GROUP BY c.name`).finally(() => setImmediate(() => (reading = undefined)));
    return reading;
  };
  new Gauge({
    name: 'outbox_consumer_parked_keys',
    help: 'Ordered consumers: keys parked after a message failed for good (their events wait for outbox parked retry|skip)',
    labelNames: ['consumer'],
    registers: [registry],
    async collect() {
      for (const row of await read()) this.set({ consumer: row.consumer }, row.keys);
    },
  });
  new Gauge({
    name: 'outbox_consumer_oldest_parked_age_seconds',
    help: 'Ordered consumers: how long the oldest parked key has waited (0 without one)',
    labelNames: ['consumer'],
    registers: [registry],
    async collect() {
      for (const row of await read()) this.set({ consumer: row.consumer }, row.oldestAgeMs / 1000);
    },
  });
}
