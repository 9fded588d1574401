// `outbox worker --config outbox.config.ts`: the consumers as a process. SIGTERM /
// SIGINT stop consuming and let handlers in flight finish; a second signal exits at once.
// A mistake (missing tables, a refused login or virtual host) ends it at start with
// its typed error; an outage at start is waited out; GET /health on --metrics-port
// reports the worker's health().
import { parseArgs } from 'node:util';
import { loadConfig, requireConfigFile } from '../config/loadConfig.js';
import { createWorker } from '../consumers/createWorker.js';
import { preflightBroker } from '../broker/preflightBroker.js';
import { preflightDatabase } from '../database/preflightDatabase.js';
import { prismaQueryRows } from '../database/sqlStore.js';
import { createLogger } from '../logging/createLogger.js';
import { readFlags } from './commandFlags.js';
import { readAmqpUrl } from './readAmqpUrl.js';
import { untilSignalled } from './untilSignalled.js';
import { installLastResortHandlers } from './lastResort.js';
import { METRICS_FLAG, METRICS_OPTION, METRICS_USAGE, startMetrics } from './metricsOption.js';
import { readSummaryInterval } from './readSummaryInterval.js';

export const WORKER_USAGE = `  worker    Run the consumers of a config module (AMQP_URL; the config brings its Prisma client).
            --config <path>      default ./outbox.config.{ts,mts,js,mjs,cjs}
            OUTBOX_SUMMARY_INTERVAL  how often the info summary is logged: 60s (default), 5m, 0s for never
            ${METRICS_USAGE}`;

export async function runWorker(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, ...METRICS_OPTION }, strict: true });
  const flags = readFlags(values, METRICS_FLAG);
  const config = await loadConfig(await requireConfigFile(values.config));
  const prisma = await config.prismaClient();
  await preflightDatabase(prismaQueryRows(prisma));
  const amqpUrl = readAmqpUrl();
  await preflightBroker(amqpUrl);
  const logger = createLogger();
  installLastResortHandlers(logger, [process.env.DATABASE_URL, ...amqpUrl.split(',')]);
  const metrics = await startMetrics(flags['metrics-port'], logger);
  const worker = createWorker({
    prisma,
    amqpUrl,
    events: config.events,
    consumers: config.consumers,
    summaryIntervalMs: readSummaryInterval(),
    logger,
    ...config.worker,
    ...(metrics.registry ? { metrics: metrics.registry } : {}),
  });
  metrics.reportHealthOf(worker);
  // Listening before start(): a signal while it waits out an outage stops it too.
  let signalled = false;
  const stopped = untilSignalled(logger, () => {
    signalled = true;
    return worker.stop();
  });
  try {
    await worker.start();
  } catch (error) {
    if (!signalled) throw error;
  }
  await stopped;
  await metrics.close();
}
