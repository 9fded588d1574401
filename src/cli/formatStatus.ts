// The human form of `outbox status`: a few lines, one table, the alerts. Unknown
// numbers show as "?" (their reason is on the broker lines or in the notes).
import type { OutboxStatus } from '../operations/readStatus.js';

const show = (value: number | string | null) => (value === null ? '?' : String(value));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatStatus(status: OutboxStatus): string {
  const { relay, reconciler, broker } = status;
  const lines: string[] = [];
  const age = relay.oldestPendingAgeMs === null ? '-' : `${(relay.oldestPendingAgeMs / 1000).toFixed(1)} s`;
  lines.push(`relay        pending ${relay.pending}, oldest due pending ${age}, failed ${relay.failed}`);
  const run = reconciler.lastRun;
  lines.push(
    `reconciler   ${run ? `last run #${run.id} ${run.status} at ${run.startedAt}: scanned ${run.scanned}, re-scheduled ${run.rescheduled}` : 'never ran'}`,
  );

  const { amqp, management } = broker;
  const identity = amqp.state === 'ok' ? `cluster ${amqp.clusterName ?? '?'}, RabbitMQ ${amqp.version ?? '?'}` : amqp.detail;
  lines.push(`amqp         ${amqp.url ?? 'AMQP_URL not set'} (vhost "${broker.vhost}"): ${amqp.state}: ${identity}`);
  const where = management.url === null ? '' : ` ${management.url} (user ${management.user}, from ${management.source})`;
  lines.push(`management  ${where}: ${management.state}: ${management.detail}`);
  const unroutable =
    broker.unroutable.depth !== null
      ? `${broker.unroutable.depth} message(s)`
      : management.state === 'ok'
        ? 'not declared in this vhost (no relay has run here), or not sampled yet'
        : 'unknown (see management)';
  lines.push(`unroutable   ${broker.unroutable.queue}: ${unroutable}`);

  lines.push('');
  if (status.consumers.length === 0) {
    lines.push(status.consumersFrom === 'database' ? 'no consumer registered in outbox_consumer' : 'no consumer in the config');
  } else {
    const graceMinutes = Math.round(status.graceMs / 60_000);
    lines.push(
      table(
        ['consumer', 'registered', `not done (>${graceMinutes} min)`, 'in flight', 'dead', 'queue', 'retrying', 'dlq'],
        status.consumers.map((consumer) => [
          consumer.consumer,
          consumer.registeredAt ?? 'never',
          show(consumer.notDone),
          show(consumer.inFlight),
          show(consumer.dead),
          show(consumer.queueDepth),
          show(consumer.retryDepth),
          show(consumer.dlqDepth),
        ]),
      ),
    );
  }
  for (const note of status.notes) lines.push(`note: ${note}`);
  lines.push('');
  lines.push(status.alerts.length === 0 ? 'no alerts' : `alerts:\n${status.alerts.map((alert) => `  - ${alert}`).join('\n')}`);
  return `${lines.join('\n')}\n`;
}
