import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parseOptions } from '../errors.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../logging/createLogger.js';
import type { PrismaRootClient } from '../database/sqlStore.js';
import { DEFAULT_EXCHANGE, DEFAULT_UNROUTABLE_EXCHANGE } from '../defaults.js';

export interface RelayOptions {
  /** PostgreSQL URL: the relay opens a small pool of its own. Give this or `prisma`. */
  databaseUrl?: string;
  /** Or the app's Prisma client (root, extended or not): batches run in its interactive transactions. */
  prisma?: PrismaRootClient;
  /** AMQP URL, or several (array or comma-separated) for a cluster: failover in turn. */
  amqpUrl: string | string[];
  /** Topic exchange the events are published to. Default "outbox.events". */
  exchange?: string;
  /** Alternate exchange and queue for unroutable events. Default "outbox.unroutable". */
  unroutableExchange?: string;
  /** Rows claimed per batch. Default 500. */
  batchSize?: number;
  /** Unconfirmed messages at most, across the batches in flight (pipelining). Default 1500: three batches of 500. */
  maxInFlight?: number;
  /** Wait between polls when nothing is due, in ms. Default 100. */
  pollIntervalMs?: number;
  /** A batch whose confirms have not all arrived by then counts as failed for the rest, in ms. Default 15000. */
  confirmTimeoutMs?: number;
  /**
   * A database statement may take this long (server-side statement_timeout; the
   * client gives up 5 s later on a connection whose replies stopped, and replaces it).
   * With databaseUrl only. Default 15000.
   */
  queryTimeoutMs?: number;
  /**
   * A batch (claim, publish, confirms, commit) still unfinished this long after it
   * started means the relay is stuck: it logs it, drops its connections and opens
   * new ones. Default: confirmTimeoutMs + 2 × queryTimeoutMs + 15000.
   */
  stuckAfterMs?: number;
  /**
   * runOnce() waits this long at most for the broker, then fails with
   * OUTBOX_BROKER_UNREACHABLE (start() waits out any outage). Default 60000.
   */
  brokerWaitMs?: number;
  /** Failed attempts (nack, confirm timeout) before a row becomes `failed`. Default 10. */
  maxPublishAttempts?: number;
  /** Backoff after a failed attempt: initial and cap, in ms, doubling with ±20% jitter. Defaults 1000 and 300000. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Publishes per second at most (0: no cap), e.g. to drain a backlog gently after an outage. Default 0. */
  maxPublishRate?: number;
  /** Wake up at once on NOTIFY outbox_message (written by createOutbox({ wakeRelay: true })); needs databaseUrl. Default false. */
  listenForWakeUps?: boolean;
  /** AMQP app-id of published messages. Default "outbox-relay". */
  appId?: string;
  /** Name of this relay instance in logs and in the broker's connection list. Default host-pid-random. */
  relayId?: string;
  logger?: Logger;
  /**
   * Every this many ms, one info line of what the relay did since the last one
   * (published, retried, failed, lag) and a warning if the unroutable queue holds
   * messages; none when nothing happened. 0: no summary. Default 60000.
   */
  summaryIntervalMs?: number;
  /** A prom-client registry to record metrics on (published, failures, publish latency, backlog gauges). */
  metrics?: Registry;
}

const positiveInt = z.number().int().positive();

const relayOptionsSchema = z
  .object({
    databaseUrl: z.string().min(1).optional(),
    prisma: z.custom<PrismaRootClient>((value) => typeof (value as PrismaRootClient | undefined)?.$transaction === 'function', 'a Prisma client').optional(),
    amqpUrl: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    exchange: z.string().min(1).max(255).default(DEFAULT_EXCHANGE),
    unroutableExchange: z.string().min(1).max(255).default(DEFAULT_UNROUTABLE_EXCHANGE),
    batchSize: positiveInt.max(10_000).default(500),
    maxInFlight: positiveInt.max(100_000).default(1500),
    pollIntervalMs: positiveInt.max(60_000).default(100),
    confirmTimeoutMs: positiveInt.default(15_000),
    queryTimeoutMs: positiveInt.default(15_000),
    stuckAfterMs: positiveInt.optional(),
    brokerWaitMs: positiveInt.default(60_000),
    maxPublishAttempts: positiveInt.default(10),
    initialBackoffMs: positiveInt.default(1000),
    maxBackoffMs: positiveInt.default(300_000),
    maxPublishRate: z.number().nonnegative().default(0),
    listenForWakeUps: z.boolean().default(false),
    appId: z.string().min(1).max(255).default('outbox-relay'),
    relayId: z
      .string()
      .min(1)
      .max(200)
      .default(() => `relay-${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`),
    logger: z.custom<Logger>().optional(),
    summaryIntervalMs: z.number().int().nonnegative().default(60_000),
    metrics: z.custom<Registry>((value) => typeof (value as Registry | undefined)?.registerMetric === 'function', 'a prom-client Registry').optional(),
  })
  .refine((options) => (options.databaseUrl === undefined) !== (options.prisma === undefined), 'give exactly one of databaseUrl and prisma')
  .refine((options) => !options.listenForWakeUps || options.databaseUrl !== undefined, 'listenForWakeUps needs databaseUrl');

export type ResolvedRelayOptions = z.output<typeof relayOptionsSchema> & { stuckAfterMs: number };

export function resolveRelayOptions(options: RelayOptions): ResolvedRelayOptions {
  const resolved = parseOptions(relayOptionsSchema, options, 'createRelay');
  return { ...resolved, stuckAfterMs: resolved.stuckAfterMs ?? resolved.confirmTimeoutMs + 2 * resolved.queryTimeoutMs + 15_000 };
}
