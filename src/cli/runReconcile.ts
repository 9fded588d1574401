// `outbox reconcile [--once] --config outbox.config.ts`: re-schedule side effects
// not done, on the config's consumers. Without --once: on a schedule until signalled.
// With DATABASE_URL set it uses a pg pool of its own, whose connections have reply
// timeouts (a Prisma client's pool has none and can wait forever on a half-open
// connection); without it, the config's Prisma client.
import { parseArgs } from 'node:util';
import { loadConfig, requireConfigFile } from '../config/loadConfig.js';
import { preflightBroker } from '../broker/preflightBroker.js';
import { preflightDatabase } from '../database/preflightDatabase.js';
import { createPgSqlStore, prismaQueryRows, type PrismaRootClient } from '../database/sqlStore.js';
import { createLogger } from '../logging/createLogger.js';
import { createReconciler } from '../reconciler/createReconciler.js';
import { flag, readFlags } from './commandFlags.js';
import { readAmqpUrl } from './readAmqpUrl.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { untilSignalled } from './untilSignalled.js';
import { installLastResortHandlers } from './lastResort.js';
import { METRICS_FLAG, METRICS_OPTION, METRICS_USAGE, startMetrics } from './metricsOption.js';
import { JSON_OPTION } from './writeReport.js';

export const RECONCILE_USAGE = `  reconcile Re-schedule side effects not done (AMQP_URL; DATABASE_URL, else the config's Prisma client).
            --config <path>      default ./outbox.config.{ts,mts,js,mjs,cjs}
            --once               one run now, its report as JSON on stdout (logs on stderr)
            --json               the same JSON report (accepted, as by every report command)
            --schedule <cron>    default "0 * * * *" (hourly)
            --grace <d>          default 15m: younger messages may still be on their way
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
  const flags = readFlags(values, { grace: flag.duration().optional(), ...METRICS_FLAG });
  const config = await loadConfig(await requireConfigFile(values.config));
  const databaseUrl = process.env.DATABASE_URL ? readDatabaseUrl() : undefined;
  let database: { databaseUrl: string } | { prisma: PrismaRootClient };
  if (databaseUrl) {
    const check = createPgSqlStore(databaseUrl, { applicationName: 'outbox-reconciler' });
    try {
      await preflightDatabase(check.query, databaseUrl);
    } finally {
      await check.close();
    }
    database = { databaseUrl };
  } else {
    const prisma = await config.prismaClient();
    await preflightDatabase(prismaQueryRows(prisma));
    database = { prisma };
  }
  const amqpUrl = readAmqpUrl();
  await preflightBroker(amqpUrl);
  const logger = createLogger();
  installLastResortHandlers(logger, [process.env.DATABASE_URL, ...amqpUrl.split(',')]);
  const metrics = await startMetrics(values.once ? undefined : flags['metrics-port'], logger);
  const reconciler = createReconciler({
    ...database,
    amqpUrl,
    events: config.events,
    consumers: config.consumers,
    schedule: values.schedule,
    graceMs: flags.grace,
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
  metrics.reportHealthOf(reconciler);
  await reconciler.start();
  await untilSignalled(logger, () => reconciler.stop());
  await metrics.close();
}
