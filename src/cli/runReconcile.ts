// `outbox reconcile [--once] --config outbox.config.ts`: re-schedule side effects
// not done, on the config's consumers. Without --once: on a schedule until signalled.
import { parseArgs } from 'node:util';
import { loadConfig, requireConfigFile } from '../config/loadConfig.js';
import { preflightBroker } from '../broker/preflightBroker.js';
import { preflightDatabase } from '../database/preflightDatabase.js';
import { prismaQueryRows } from '../database/sqlStore.js';
import { createLogger } from '../logging/createLogger.js';
import { createReconciler } from '../reconciler/createReconciler.js';
import { readAmqpUrl } from './readAmqpUrl.js';
import { untilSignalled } from './untilSignalled.js';
import { installLastResortHandlers } from './lastResort.js';
import { METRICS_OPTION, METRICS_USAGE, startMetrics } from './metricsOption.js';
import { JSON_OPTION } from './writeReport.js';

export const RECONCILE_USAGE = `  reconcile Re-schedule side effects not done (AMQP_URL; the config brings its Prisma client).
            --config <path>      default ./outbox.config.{ts,mts,js,mjs,cjs}
            --once               one run now, its report as JSON on stdout (logs on stderr)
            --json               the same JSON report (accepted, as by every report command)
            --schedule <cron>    default "0 * * * *" (hourly)
            --grace <minutes>    default 15: younger messages may still be on their way
            ${METRICS_USAGE}`;

export async function runReconcile(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      once: { type: 'boolean', default: false },
      schedule: { type: 'string' },
      grace: { type: 'string' },
      ...JSON_OPTION,
      ...METRICS_OPTION,
    },
    strict: true,
  });
  const config = await loadConfig(await requireConfigFile(values.config));
  const prisma = await config.prismaClient();
  await preflightDatabase(prismaQueryRows(prisma));
  const amqpUrl = readAmqpUrl();
  await preflightBroker(amqpUrl);
  const logger = createLogger();
  installLastResortHandlers(logger, [process.env.DATABASE_URL, ...amqpUrl.split(',')]);
  const metrics = await startMetrics(values.once ? undefined : values['metrics-port'], logger);
  const reconciler = createReconciler({
    prisma,
    amqpUrl,
    events: config.events,
    consumers: config.consumers,
    schedule: values.schedule,
    graceMs: values.grace === undefined ? undefined : Number(values.grace) * 60_000,
    logger,
    ...(metrics.registry ? { metrics: metrics.registry } : {}),
  });
  if (values.once) {
    try {
      // Its report is JSON with or without --json: the one document on stdout.
      process.stdout.write(`${JSON.stringify(await reconciler.runOnce(), null, values.json ? 2 : undefined)}\n`);
    } finally {
      await reconciler.stop();
    }
    return;
  }
  reconciler.start();
  await untilSignalled(logger, () => reconciler.stop());
  await metrics.close();
}
