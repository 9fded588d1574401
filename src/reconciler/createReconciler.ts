// The reconciler: on a schedule (hourly by default), one replica at a time, finds
// side effects owed and not done (a wiped queue, a bug that dropped messages, a
// long outage) and publishes those messages again to that consumer's queue only.
import { sqltag as sql } from '@prisma/client/runtime/client';
import cron, { type ScheduledTask } from 'node-cron';
import { z } from 'zod';
import { parseAmqpUrls } from '../broker/amqpUrls.js';
import { BrokerConnection } from '../broker/brokerConnection.js';
import { declareConsumerTopology, workerTopologyOptions } from '../consumers/consumerTopology.js';
import { resolveConsumer, type ConsumerDefinition } from '../consumers/defineConsumer.js';
import { registerConsumers } from '../consumers/registerConsumers.js';
import { typesMatching } from '../consumers/topicPattern.js';
import { OutboxError } from '../errors.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../logging/createLogger.js';
import { componentLogger } from '../logging/componentLogger.js';
import { loggableError } from '../logging/loggableError.js';
import { createOutboxMetrics } from '../metrics/outboxMetrics.js';
import { redactSecrets } from '../logging/redactUrl.js';
import type { EventDefinition } from '../outbox/defineEvent.js';
import { createEventCatalog } from '../outbox/eventCatalog.js';
import { toZodIssues } from '../outbox/publishOptions.js';
import { createPgSqlStore, createPrismaSqlStore, type PrismaRootClient, type QueryRows } from '../database/sqlStore.js';
import { retryFailedMessages } from '../relay/retryFailedMessages.js';
import { createRateLimiter } from '../timing/rateLimiter.js';
import { republishToConsumer } from '../operations/republishToConsumer.js';
import { advanceWatermark, findUndoneMessages, readConsumers } from './consumerBacklog.js';

export const HEADER_RESCHEDULED_AT = 'outbox-rescheduled-at';

export interface ReconcilerOptions {
  databaseUrl?: string;
  prisma?: PrismaRootClient;
  amqpUrl: string | string[];
  events: readonly EventDefinition[];
  consumers: readonly ConsumerDefinition<readonly EventDefinition[], never>[];
  /** node-cron expression. Default hourly: "0 * * * *". */
  schedule?: string;
  /** A message younger than this may still be on its way: not judged. Default 15 min. */
  graceMs?: number;
  /** Messages older than this are no longer owed. Default 7 days. */
  horizonMs?: number;
  /** Re-publishes per run at most. Default 10000. */
  maxReschedulesPerRun?: number;
  /** Re-publishes per second at most, so a backlog does not stampede the consumers. Default 200. */
  maxRescheduleRate?: number;
  /** Pending rows older than this mean the relay is not keeping up (or down): reported and logged. Default 5 min. */
  stalePendingMs?: number;
  /** Return `failed` outbox rows to pending at each run (a broker that refused them may accept them now). Default false. */
  retryFailedRows?: boolean;
  exchange?: string;
  unroutableExchange?: string;
  deadLetterExchange?: string;
  appId?: string;
  logger?: Logger;
  /** A prom-client registry to record the re-scheduled totals on. */
  metrics?: Registry;
}

export interface ConsumerReconciliation {
  consumer: string;
  /** Outbox rows looked at after the consumer's watermark. */
  scanned: number;
  rescheduled: number;
  watermarkSeq: string;
}

export interface ReconcileReport {
  /** "skipped": another replica held the reconciler lock. */
  status: 'done' | 'skipped';
  runId: string;
  scanned: number;
  rescheduled: number;
  consumers: ConsumerReconciliation[];
  /** Pending rows older than stalePendingMs: the relay is behind or down. */
  stalePending: { count: number; oldestAgeMs: number | null };
  failedRows: number;
  /** Failed rows returned to pending by this run (retryFailedRows). */
  retriedFailedRows: number;
}

export interface Reconciler {
  runOnce(): Promise<ReconcileReport>;
  start(): void;
  stop(): Promise<void>;
}

const optionsSchema = z.object({
  schedule: z.string().refine((value) => cron.validate(value), 'a cron expression').default('0 * * * *'),
  graceMs: z.number().int().nonnegative().default(15 * 60_000),
  horizonMs: z.number().int().positive().default(7 * 24 * 3_600_000),
  maxReschedulesPerRun: z.number().int().positive().default(10_000),
  maxRescheduleRate: z.number().nonnegative().default(200),
  stalePendingMs: z.number().int().positive().default(5 * 60_000),
  retryFailedRows: z.boolean().default(false),
  ...workerTopologyOptions,
  appId: z.string().min(1).default('outbox-reconciler'),
});

export function createReconciler(options: ReconcilerOptions): Reconciler {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', `createReconciler: ${z.prettifyError(parsed.error)}`, { issues: toZodIssues(parsed.error.issues) });
  }
  if ((options.databaseUrl === undefined) === (options.prisma === undefined)) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'createReconciler: give exactly one of databaseUrl and prisma');
  }
  const config = parsed.data;
  const catalog = createEventCatalog(options.events);
  const consumers = options.consumers.map(resolveConsumer);
  const amqpUrls = parseAmqpUrls(options.amqpUrl);
  const logger = componentLogger(options.logger, { component: 'reconciler' });
  const secrets = [...amqpUrls, ...(options.databaseUrl ? [options.databaseUrl] : [])];
  const describe = (error: unknown) => redactSecrets(error instanceof Error ? error.message : String(error), secrets);
  const topology = { exchange: config.exchange, unroutable: config.unroutableExchange, deadLetterExchange: config.deadLetterExchange };
  const metrics = options.metrics ? createOutboxMetrics(options.metrics) : undefined;
  const store = options.prisma ? createPrismaSqlStore(options.prisma) : createPgSqlStore(options.databaseUrl!, { maxConnections: 2, applicationName: 'outbox-reconciler', queryTimeoutMs: 5 * 60_000 });
  let broker: BrokerConnection | undefined;
  const connectBroker = () =>
    (broker ??= new BrokerConnection({
      urls: amqpUrls,
      logger,
      connectionName: `reconciler-${process.pid}`,
      // The consumers' queues exist even if someone deleted them: a re-published message is never unroutable.
      setupChannel: async (channel) => {
        for (const consumer of consumers) await declareConsumerTopology(channel, topology, consumer);
      },
    }));

  const recordRun = async (status: string): Promise<string> => {
    const [row] = await store.query<{ id: string }>(sql`INSERT INTO outbox_reconciler_run (status) VALUES (${status}) RETURNING id::text AS "id"`);
    return row!.id;
  };

  async function relayHealth(query: QueryRows): Promise<Pick<ReconcileReport, 'stalePending' | 'failedRows'>> {
    const [row] = await query<{ stale: number; oldestMs: number | null; failed: number }>(sql`
      SELECT (SELECT count(*)::int FROM outbox_message
               WHERE status = 'pending' AND available_at < now() - ${config.stalePendingMs} * interval '1 millisecond') AS "stale",
             (SELECT (extract(epoch FROM now() - min(available_at)) * 1000)::float8 FROM outbox_message WHERE status = 'pending') AS "oldestMs",
             (SELECT count(*)::int FROM outbox_message WHERE status = 'failed') AS "failed"`);
    return { stalePending: { count: row!.stale, oldestAgeMs: row!.stale > 0 ? row!.oldestMs : null }, failedRows: row!.failed };
  }

  async function reconcileConsumers(query: QueryRows): Promise<ConsumerReconciliation[]> {
    await registerConsumers(query, consumers.map((consumer) => consumer.name));
    const records = await readConsumers(query, consumers.map((consumer) => consumer.name));
    const rateLimiter = createRateLimiter(config.maxRescheduleRate);
    let budget = config.maxReschedulesPerRun;
    const results: ConsumerReconciliation[] = [];
    for (const consumer of consumers) {
      const record = records.find((candidate) => candidate.name === consumer.name)!;
      const window = {
        consumer: consumer.name,
        eventTypes: typesMatching(consumer.events, catalog.types),
        graceMs: config.graceMs,
        horizonMs: config.horizonMs,
      };
      const { scanned, watermarkSeq } = await advanceWatermark(query, record, window);
      const undone = budget > 0 ? await findUndoneMessages(query, { ...record, watermarkSeq }, window, budget) : [];
      if (undone.length > 0) {
        const channel = await connectBroker().confirmChannel();
        // Through the default exchange to this consumer's queue: the others do not see it again.
        await republishToConsumer(channel, consumer.name, undone, { header: HEADER_RESCHEDULED_AT, value: new Date().toISOString(), appId: config.appId }, rateLimiter);
        logger.warn({ consumer: consumer.name, rescheduled: undone.length, messageIds: undone.slice(0, 20).map((message) => message.id) }, 're-scheduled side effects not done');
      }
      budget -= undone.length;
      metrics?.rescheduled.inc({ consumer: consumer.name }, undone.length);
      results.push({ consumer: consumer.name, scanned, rescheduled: undone.length, watermarkSeq });
    }
    return results;
  }

  async function runOnce(): Promise<ReconcileReport> {
    const startedAt = performance.now();
    let runId: string | undefined;
    try {
      const outcome = await store.transaction(async (query) => {
        // One reconciler at a time across replicas, for as long as this transaction lasts.
        const [lock] = await query<{ locked: boolean }>(sql`SELECT pg_try_advisory_xact_lock(hashtext('prisma-rabbitmq-outbox.reconciler')) AS "locked"`);
        if (!lock!.locked) return undefined;
        runId = await recordRun('running');
        const consumerResults = await reconcileConsumers(query);
        const retriedFailedRows = config.retryFailedRows ? (await retryFailedMessages(query)).length : 0;
        return { consumers: consumerResults, ...(await relayHealth(query)), retriedFailedRows };
      }, 30 * 60_000);
      if (!outcome) {
        const skippedId = await recordRun('skipped');
        logger.info({ runId: skippedId }, 'another reconciler is running: skipped');
        return { status: 'skipped', runId: skippedId, scanned: 0, rescheduled: 0, consumers: [], stalePending: { count: 0, oldestAgeMs: null }, failedRows: 0, retriedFailedRows: 0 };
      }
      const report: ReconcileReport = {
        status: 'done',
        runId: runId!,
        scanned: outcome.consumers.reduce((sum, entry) => sum + entry.scanned, 0),
        rescheduled: outcome.consumers.reduce((sum, entry) => sum + entry.rescheduled, 0),
        ...outcome,
      };
      await store.query(sql`
        UPDATE outbox_reconciler_run
           SET status = 'done', finished_at = now(), scanned = ${report.scanned}, rescheduled = ${report.rescheduled}, report = ${JSON.stringify(report)}::jsonb
         WHERE id = ${runId}::bigint RETURNING 1`);
      if (report.stalePending.count > 0) {
        logger.error(report.stalePending, 'pending outbox rows older than stalePendingMs: is the relay running?');
      }
      logger.info({ runId, scanned: report.scanned, rescheduled: report.rescheduled, durationMs: Math.round(performance.now() - startedAt) }, 'reconciler run done');
      return report;
    } catch (error) {
      if (runId !== undefined) {
        await store
          .query(sql`UPDATE outbox_reconciler_run SET status = 'failed', finished_at = now(), error = ${describe(error)} WHERE id = ${runId}::bigint RETURNING 1`)
          .catch(() => {});
      }
      throw error;
    }
  }

  let task: ScheduledTask | undefined;
  let current: Promise<unknown> | undefined;
  return {
    runOnce,
    start() {
      if (task) return;
      task = cron.schedule(config.schedule, () => {
        if (current) return; // no overlapping runs in this process (the lock covers the others)
        current = runOnce()
          .catch((error: unknown) => logger.error({ err: loggableError(error, secrets) }, 'reconciler run failed'))
          .finally(() => {
            current = undefined;
          });
      });
      logger.info({ schedule: config.schedule }, 'reconciler scheduled');
    },
    async stop() {
      await task?.stop();
      task = undefined;
      await current;
      await broker?.close();
      broker = undefined;
      await store.close();
    },
  };
}
