// createReconciler's options: one zod schema, a default for every field, and the
// validated type the reconciler reads.
import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { workerTopologyOptions } from '../broker/consumerTopology.js';
import type { ConsumerDefinition } from '../catalog/defineConsumer.js';
import { OutboxError, parseOptions } from '../errors.js';
import type { Logger } from '../logging/createLogger.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import type { PrismaRootClient } from '../database/sqlStore.js';
import { DEFAULT_GRACE_MS, DEFAULT_HORIZON_MS, DEFAULT_STALE_PENDING_MS } from '../defaults.js';

export interface ReconcilerOptions {
  /** Its own pg pool, with liveness settings (preferred for a long-running process). */
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
  /** A re-published message is not re-published again before this; doubled for each repeat. Default twice graceMs, at least 10 s. */
  rescheduleBackoffMs?: number;
  /** The longest back-off between two re-publishes of one message. Default 24 h. */
  maxRescheduleBackoffMs?: number;
  /** How long a run waits for the broker before it fails (the next run tries again). Default 60 s. */
  brokerWaitMs?: number;
  /** A run still running after this is reported stuck by health(). Default 30 min. */
  runDeadlineMs?: number;
  /** Pending rows older than this mean the relay is not keeping up (or down): reported and logged. Default 5 min. */
  stalePendingMs?: number;
  /** Return `failed` outbox rows to pending at each run (a broker that refused them may accept them now). Default false. */
  retryFailedRows?: boolean;
  /** Partitioned outbox tables (docs/partitioning.md): each run creates the day partitions up to this many days ahead. Default 7. */
  partitionsAheadDays?: number;
  exchange?: string;
  unroutableExchange?: string;
  deadLetterExchange?: string;
  appId?: string;
  logger?: Logger;
  /** A prom-client registry to record the re-scheduled totals on. */
  metrics?: Registry;
}

/** node-cron's own check, loaded when a schedule is given: an app that only publishes never loads node-cron. */
function isCronExpression(expression: string): boolean {
  const cron = createRequire(import.meta.url)('node-cron') as typeof import('node-cron');
  return cron.validate(expression);
}

const optionsSchema = z.object({
  schedule: z.string().refine(isCronExpression, 'a cron expression').default('0 * * * *'),
  graceMs: z.number().int().nonnegative().default(DEFAULT_GRACE_MS),
  horizonMs: z.number().int().positive().default(DEFAULT_HORIZON_MS),
  maxReschedulesPerRun: z.number().int().positive().default(10_000),
  maxRescheduleRate: z.number().nonnegative().default(200),
  rescheduleBackoffMs: z.number().int().positive().optional(),
  maxRescheduleBackoffMs: z
    .number()
    .int()
    .positive()
    .default(24 * 3_600_000),
  brokerWaitMs: z.number().int().positive().default(60_000),
  runDeadlineMs: z
    .number()
    .int()
    .positive()
    .default(30 * 60_000),
  stalePendingMs: z.number().int().positive().default(DEFAULT_STALE_PENDING_MS),
  retryFailedRows: z.boolean().default(false),
  partitionsAheadDays: z.number().int().min(1).max(366).default(7),
  ...workerTopologyOptions,
  appId: z.string().min(1).default('outbox-reconciler'),
});

export type ResolvedReconcilerOptions = Omit<z.infer<typeof optionsSchema>, 'rescheduleBackoffMs'> & { rescheduleBackoffMs: number };

export function resolveReconcilerOptions(options: ReconcilerOptions): ResolvedReconcilerOptions {
  const data = parseOptions(optionsSchema, options, 'createReconciler');
  if ((options.databaseUrl === undefined) === (options.prisma === undefined)) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'createReconciler: give exactly one of databaseUrl and prisma');
  }
  // A re-published message gets at least the grace a first publish gets, twice over.
  const rescheduleBackoffMs = data.rescheduleBackoffMs ?? Math.max(2 * data.graceMs, 10_000);
  return { ...data, rescheduleBackoffMs };
}
