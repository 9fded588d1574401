// `outbox relay [--once]`: the relay as a process. SIGTERM / SIGINT stop it
// gracefully (the batches in flight finish: confirms, mark, commit); a second
// signal exits at once.
import { parseArgs } from 'node:util';
import { preflightBroker } from '../broker/preflightBroker.js';
import { preflightDatabase } from '../database/preflightDatabase.js';
import { createPgSqlStore } from '../database/sqlStore.js';
import { createLogger } from '../logging/createLogger.js';
import { createRelay } from '../relay/createRelay.js';
import { readAmqpUrl } from './readAmqpUrl.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { untilSignalled } from './untilSignalled.js';
import { installLastResortHandlers } from './lastResort.js';
import { METRICS_FLAG, METRICS_OPTION, METRICS_USAGE, startMetrics } from './metricsOption.js';
import { flag, readFlags } from './commandFlags.js';
import { readSummaryInterval } from './readSummaryInterval.js';
import { JSON_OPTION, writeReport } from './writeReport.js';

export const RELAY_USAGE = `  relay     Publish pending outbox rows to RabbitMQ (DATABASE_URL, AMQP_URL).
            --once               publish what is due now, then exit; its report on stdout (--json: as JSON)
            --broker-wait <d>    with --once: fail (exit 1) when RabbitMQ cannot be reached for this long, default 60s
            --exchange <name>    default outbox.events
            --batch-size <n>     default 500
            --max-in-flight <n>  unconfirmed messages at most, default 1500
            --poll-interval <d>  default 100ms
            --max-rate <n>       publishes per second at most (0.5 is one every 2 s), default no cap
            --listen             also wake up on NOTIFY from createOutbox({ wakeRelay: true })
            OUTBOX_SUMMARY_INTERVAL  how often the info summary is logged: 60s (default), 5m, 0s for never
            ${METRICS_USAGE}`;

export async function runRelay(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      once: { type: 'boolean', default: false },
      'broker-wait': { type: 'string' },
      exchange: { type: 'string' },
      'batch-size': { type: 'string' },
      'max-in-flight': { type: 'string' },
      'poll-interval': { type: 'string' },
      'max-rate': { type: 'string' },
      listen: { type: 'boolean', default: false },
      ...JSON_OPTION,
      ...METRICS_OPTION,
    },
    strict: true,
  });
  const flags = readFlags(values, {
    'batch-size': flag.count().optional(),
    'max-in-flight': flag.count().optional(),
    'poll-interval': flag.duration().optional(),
    'max-rate': flag.rate({ allowZero: true }).optional(),
    'broker-wait': flag.duration().optional(),
    ...METRICS_FLAG,
  });
  const databaseUrl = readDatabaseUrl();
  const preflight = createPgSqlStore(databaseUrl, { applicationName: 'outbox-relay-preflight' });
  await preflightDatabase(preflight.query, databaseUrl).finally(() => preflight.close());
  const amqpUrl = readAmqpUrl();
  await preflightBroker(amqpUrl);
  const logger = createLogger();
  installLastResortHandlers(logger, [process.env.DATABASE_URL, ...amqpUrl.split(',')]);
  const metrics = await startMetrics(flags['metrics-port'], logger);
  const relay = createRelay({
    databaseUrl,
    amqpUrl,
    exchange: values.exchange,
    batchSize: flags['batch-size'],
    maxInFlight: flags['max-in-flight'],
    pollIntervalMs: flags['poll-interval'],
    maxPublishRate: flags['max-rate'],
    listenForWakeUps: values.listen,
    brokerWaitMs: flags['broker-wait'],
    summaryIntervalMs: readSummaryInterval(),
    logger,
    ...(metrics.registry ? { metrics: metrics.registry } : {}),
  });

  if (values.once) {
    try {
      const report = await relay.runOnce();
      writeReport(
        values.json,
        report,
        `published ${report.published}, retried ${report.retried}, failed ${report.failed}, interrupted ${report.interrupted} (${report.claimed} claimed in ${report.batches} batch(es))`,
      );
    } finally {
      await relay.stop();
      await metrics.close();
    }
    return;
  }

  metrics.reportHealthOf(relay);
  await relay.start();
  await untilSignalled(logger, () => relay.stop());
  await metrics.close();
}
