// `outbox status --config outbox.config.ts [--json]`.
import { parseArgs } from 'node:util';
import { parseAmqpUrls } from '../broker/amqpUrls.js';
import { loadConfig, requireConfigFile } from '../config/loadConfig.js';
import { readStatus, type OutboxStatus } from '../operations/readStatus.js';
import { prismaQueryRows } from '../database/sqlStore.js';

export const STATUS_USAGE = `  status    Relay lag, failed rows, per consumer what is not done, queue and DLQ depths, last reconciler run.
            --config <path>      default ./outbox.config.{ts,mts,js,mjs,cjs}        --json
            (queue depths from RABBITMQ_MANAGEMENT_URL, or the AMQP_URL host on port 15672)`;

/** The management API beside the first AMQP node: same host, credentials and vhost, port 15672. */
function managementUrl(env: NodeJS.ProcessEnv): string | undefined {
  if (env.RABBITMQ_MANAGEMENT_URL) return env.RABBITMQ_MANAGEMENT_URL;
  if (!env.AMQP_URL) return undefined;
  const amqp = new URL(parseAmqpUrls(env.AMQP_URL)[0]!);
  const url = new URL(`http://${amqp.hostname}:15672`);
  url.username = amqp.username;
  url.password = amqp.password;
  url.pathname = amqp.pathname.length > 1 ? amqp.pathname : '/%2F';
  return url.toString();
}

function printStatus(status: OutboxStatus): void {
  const { relay, reconciler } = status;
  const age = relay.oldestPendingAgeMs === null ? '-' : `${(relay.oldestPendingAgeMs / 1000).toFixed(1)} s`;
  process.stdout.write(`relay       pending ${relay.pending}, oldest due pending ${age}, failed ${relay.failed}\n`);
  const run = reconciler.lastRun;
  process.stdout.write(
    `reconciler  ${run ? `last run #${run.id} ${run.status} at ${run.startedAt}: scanned ${run.scanned}, re-scheduled ${run.rescheduled}` : 'never ran'}\n`,
  );
  process.stdout.write(`broker      management API: ${status.broker.managementApi}\n\n`);
  console.table(status.consumers);
  process.stdout.write(status.alerts.length === 0 ? '\nno alerts\n' : `\nalerts:\n${status.alerts.map((alert) => `  - ${alert}`).join('\n')}\n`);
}

export async function runStatus(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, json: { type: 'boolean', default: false } }, strict: true });
  const config = await loadConfig(await requireConfigFile(values.config));
  const prisma = await config.prismaClient();
  const status = await readStatus(prismaQueryRows(prisma), { events: config.events, consumers: config.consumers, managementUrl: managementUrl(process.env) });
  if (values.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  else printStatus(status);
}
