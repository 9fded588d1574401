// `outbox setup --config outbox.config.ts`: the deploy step (see src/operations/setupOutbox.ts).
import { parseArgs } from 'node:util';
import { connectFirstNode } from '../broker/connectFirstNode.js';
import { workerTopology } from '../broker/consumerTopology.js';
import { loadConfig, requireConfigFile } from '../config/loadConfig.js';
import { prismaQueryRows } from '../database/sqlStore.js';
import { setupOutbox, type SetupReport } from '../operations/setupOutbox.js';
import { readAmqpUrl } from './readAmqpUrl.js';

export const SETUP_USAGE = `  setup     Deploy step, before starting relays and workers (idempotent): declare the
            exchanges and every consumer's queues, retry queues and DLQ, and register the
            consumers, so every event written from now on reaches each of them whatever
            the start order (AMQP_URL; the config brings its Prisma client).
            --config <path>      default ./outbox.config.{ts,mts,js,mjs,cjs}       --json`;

function printReport(report: SetupReport): void {
  const lines = [`exchanges  ${report.exchanges.join(', ')}`];
  for (const consumer of report.consumers) {
    lines.push(
      `${consumer.consumer}  ${consumer.newlyRegistered ? 'registered now' : 'already registered'}`,
      `  queues    ${consumer.queues.join(', ')}`,
      ...consumer.bindings.map((binding) => `  binding   ${binding}`),
    );
  }
  lines.push(`ready: ${report.consumers.length} consumer(s); events written from now on are routed to each`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function runSetup(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, json: { type: 'boolean', default: false } }, strict: true });
  const config = await loadConfig(await requireConfigFile(values.config));
  const connection = await connectFirstNode(readAmqpUrl(), 'outbox-setup');
  try {
    const report = await setupOutbox({
      query: prismaQueryRows(await config.prismaClient()),
      openChannel: () => connection.createChannel(),
      events: config.events,
      consumers: config.consumers,
      topology: workerTopology(),
    });
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else printReport(report);
  } finally {
    await connection.close().catch(() => {});
  }
}
