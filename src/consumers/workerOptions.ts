// The worker's options: one zod schema, every default in one place, and the
// validated type the worker reads (shaped like relayOptions.ts).
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { ConsumerDefinition, DeadLetter, ParkedKey } from '../catalog/defineConsumer.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import type { PrismaRootClient } from '../database/sqlStore.js';
import { parseOptions } from '../errors.js';
import type { Logger } from '../logging/createLogger.js';
import { workerTopologyOptions } from '../broker/consumerTopology.js';

export interface WorkerOptions {
  /** The app's Prisma client (root): each delivery runs in one of its interactive transactions. */
  prisma: PrismaRootClient;
  amqpUrl: string | string[];
  /** The event catalog (what deliveries are decoded and validated against). */
  events: readonly EventDefinition[];
  /** The side effects; each typed by the app with its catalog and transaction client. */
  consumers: readonly ConsumerDefinition<readonly EventDefinition[], never>[];
  /** Topic exchange the events come from. Default "outbox.events". */
  exchange?: string;
  /** Alternate exchange for unroutable events. Default "outbox.unroutable". */
  unroutableExchange?: string;
  /** Exchange routing dead letters to "<consumer>.dlq". Default "outbox.dlx". */
  deadLetterExchange?: string;
  /** How long stop() lets handlers in flight finish. Default 30000 ms. */
  drainTimeoutMs?: number;
  /** Interactive transaction timeout of one delivery (handler included). Default 30000 ms. */
  transactionTimeoutMs?: number;
  /**
   * A delivery with no verdict after this long (its database connection went silent)
   * is handed back through the first retry tier, without counting an attempt, and its
   * concurrency slot freed. Default transactionTimeoutMs + 10000 ms.
   */
  deliveryTimeoutMs?: number;
  /** health() turns unhealthy when the broker or the database has been failing this long. Default 30000 ms. */
  healthToleranceMs?: number;
  /** Called once per dead-lettered message, after the consumer's own hook. */
  onDeadLetter?(deadLetter: DeadLetter): void | Promise<void>;
  /** Ordered consumers: called once per parked key, after the consumer's own hook. */
  onParked?(parked: ParkedKey): void | Promise<void>;
  /** A pino logger (child loggers carry consumer, messageId, eventType). Default: the package's own, on stderr. */
  logger?: Logger;
  /**
   * Every this many ms, one info line per consumer that did anything since the
   * last one: handled, duplicates, retried, dead-lettered, deferred, handed back,
   * handler p50/p99 ms (per-delivery lines are debug). 0: no summary. Default 60000.
   */
  summaryIntervalMs?: number;
  /** This worker's name in logs and in the broker's connection list. Default "worker-<pid>". */
  workerId?: string;
  /** A prom-client registry to record metrics on (deliveries by outcome, handler duration). */
  metrics?: Registry;
}

const workerOptionsSchema = z.object({
  ...workerTopologyOptions,
  drainTimeoutMs: z.number().int().positive().default(30_000),
  transactionTimeoutMs: z.number().int().positive().default(30_000),
  deliveryTimeoutMs: z.number().int().positive().optional(),
  prisma: z.custom<PrismaRootClient>((value) => typeof (value as PrismaRootClient | undefined)?.$transaction === 'function', 'a Prisma client'),
  healthToleranceMs: z.number().int().nonnegative().default(30_000),
  workerId: z
    .string()
    .min(1)
    .default(() => `worker-${process.pid}`),
  summaryIntervalMs: z.number().int().nonnegative().default(60_000),
});

/** How much longer than its transaction a delivery may take by default: the failure record after a rollback, a pool wait. */
const DELIVERY_MARGIN_MS = 10_000;

export type ResolvedWorkerOptions = z.output<typeof workerOptionsSchema> & { deliveryTimeoutMs: number };

export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const resolved = parseOptions(workerOptionsSchema, options, 'createWorker');
  return { ...resolved, deliveryTimeoutMs: resolved.deliveryTimeoutMs ?? resolved.transactionTimeoutMs + DELIVERY_MARGIN_MS };
}
