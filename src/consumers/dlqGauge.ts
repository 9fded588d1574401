// The depth of each consumer's dead-letter queue, read from the broker at each scrape
// on the worker's own connection: operators alert on dead letters waiting.
import type { ChannelModel } from 'amqplib';
import type { Registry } from 'prom-client';
import { dlqName } from '../broker/consumerTopology.js';
import { promClient } from '../metrics/outboxMetrics.js';
import { withTimeout } from '../timing/bounded.js';

/** A scrape never waits on a slow broker longer than this (it reports no value instead). */
const READ_TIMEOUT_MS = 2_000;

/**
 * Registers outbox_consumer_dlq_messages{consumer}. `connection()` is the worker's open
 * connection, or undefined: then the gauge has no series (absent, not a stale 0).
 */
export function registerDlqGauge(registry: Registry, consumers: readonly string[], connection: () => ChannelModel | undefined): void {
  if (consumers.length === 0 || registry.getSingleMetric('outbox_consumer_dlq_messages')) return;
  const { Gauge } = promClient();
  new Gauge({
    name: 'outbox_consumer_dlq_messages',
    help: "Messages waiting in each consumer's dead-letter queue (read from the broker at scrape; absent while the worker is not connected)",
    labelNames: ['consumer'],
    registers: [registry],
    async collect() {
      this.reset();
      const model = connection();
      if (!model) return;
      // A channel of its own: a passive declare of a missing queue closes the channel it ran on.
      const opening = model.createChannel();
      const channel = await withTimeout(opening, READ_TIMEOUT_MS, 'dlq gauge channel').catch(() => {
        // Opened too late for this scrape: closed whenever it opens, never leaked.
        void opening.then(
          (late) => late.close().catch(() => {}),
          () => {},
        );
        return undefined;
      });
      if (!channel) return;
      channel.on('error', () => {});
      try {
        for (const consumer of consumers) {
          const queue = await withTimeout(channel.checkQueue(dlqName(consumer)), READ_TIMEOUT_MS, 'dlq depth');
          this.set({ consumer }, queue.messageCount);
        }
      } catch {
        // Unreadable now (broker going away, queue not declared yet): the series stays absent this scrape.
      } finally {
        await channel.close().catch(() => {});
      }
    },
  });
}
