// The console's JSON API: each route reads or acts through the operations the CLI
// uses (status, the journey, dead letters, retry-failed, reconciler runs, the audit
// log). Actions (POSTs) pass the guard's CSRF checks first and are audited as `actor`.
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { readBrokerStatus, type BrokerReading } from '../broker/readBrokerStatus.js';
import type { BrokerEndpoints } from '../broker/resolveManagementEndpoint.js';
import type { QueryRows } from '../database/sqlStore.js';
import { DEFAULT_GRACE_MS } from '../defaults.js';
import type { Logger } from '../logging/createLogger.js';
import { readAuditLog, type Actor } from '../operations/auditLog.js';
import { readConsumerActivity } from '../operations/consumerActivity.js';
import { findJourneys } from '../operations/messageJourney.js';
import { listConsumerDeadLetters, purgeConsumerDeadLetters, replayConsumerDeadLetters, retryFailedRows } from '../operations/operatorActions.js';
import { readReconcilerRuns } from '../operations/reconcilerRuns.js';
import { createThroughputSampler } from '../operations/relayThroughput.js';
import { readStatus } from '../operations/readStatus.js';
import type { ConsoleGuard } from './consoleSecurity.js';

export interface ConsoleConsumer {
  name: string;
  /** The catalog's event types its patterns match. */
  eventTypes: string[];
  /** The queues it consumes (an ordered consumer's partitions). */
  queues: string[];
  ordered: boolean;
}

/** What the API reads and acts on. */
export interface ConsoleApiOptions {
  /** AMQP_URL as given (one URL, or several nodes comma-separated). */
  amqpUrl: string;
  brokerEndpoints: BrokerEndpoints;
  consumers: readonly ConsoleConsumer[];
  unroutableQueue?: string;
}

/** A refusal with its HTTP status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 65_536;
/** One overview serves every page that asks within this time (status reads are not free). */
const OVERVIEW_CACHE_MS = 2_000;
/** The broker's half (an AMQP connection and the management API) is read at most this often (its statistics refresh every ~5 s). */
const BROKER_CACHE_MS = 5_000;

const messageIds = z.array(z.uuid()).min(1).max(1000);
/** Which messages an action takes: these ids, or all of them. */
const selectionBody = z.union([z.strictObject({ messageIds }), z.strictObject({ all: z.literal(true) })]);
const purgeBody = z.strictObject({ confirm: z.string() });

async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'OUTBOX_INVALID_OPTIONS', `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text.length === 0 ? {} : (JSON.parse(text) as unknown);
  } catch {
    throw new HttpError(400, 'OUTBOX_INVALID_OPTIONS', 'the body is not JSON');
  }
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new HttpError(
      400,
      'OUTBOX_INVALID_OPTIONS',
      `${what}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ')}`,
    );
  return parsed.data;
}

export function createConsoleApi(options: ConsoleApiOptions, context: { query: QueryRows; guard: ConsoleGuard; logger: Logger }) {
  const { query, guard, logger } = context;
  const consumers = new Map(options.consumers.map((consumer) => [consumer.name, consumer]));
  const sampler = createThroughputSampler();

  let broker: { at: number; reading: Promise<BrokerReading> } | undefined;
  const brokerReading = () => {
    if (!broker || Date.now() - broker.at > BROKER_CACHE_MS) {
      const reading = readBrokerStatus(options.brokerEndpoints, options.unroutableQueue ? { unroutableQueue: options.unroutableQueue } : {});
      broker = { at: Date.now(), reading };
      reading.catch(() => (broker = undefined));
    }
    return broker.reading;
  };

  async function readOverview() {
    const names = options.consumers.map((consumer) => consumer.name);
    const status = await readStatus(query, { consumers: options.consumers, broker: brokerReading(), graceMs: DEFAULT_GRACE_MS });
    const [activity, publishRate] = await Promise.all([
      readConsumerActivity(query, names),
      sampler.sample(query, { pending: status.relay.pending, failed: status.relay.failed }),
    ]);
    return {
      generatedAt: new Date().toISOString(),
      relay: { ...status.relay, publishRatePerSecond: publishRate, unroutable: status.broker.unroutable },
      consumers: status.consumers.map((consumer) => ({
        ...consumer,
        ordered: consumers.get(consumer.consumer)?.ordered ?? false,
        ...activity.find((entry) => entry.consumer === consumer.consumer),
      })),
      reconciler: status.reconciler,
      broker: { vhost: status.broker.vhost, management: status.broker.management.state, detail: status.broker.management.detail },
      alerts: status.alerts,
      notes: status.notes,
    };
  }
  let overview: { at: number; reading: Promise<Awaited<ReturnType<typeof readOverview>>> } | undefined;
  const cachedOverview = () => {
    if (!overview || Date.now() - overview.at > OVERVIEW_CACHE_MS) {
      const reading = readOverview();
      overview = { at: Date.now(), reading };
      reading.catch(() => (overview = undefined));
    }
    return overview.reading;
  };

  const consumerNamed = (name: string): ConsoleConsumer => {
    const consumer = consumers.get(name);
    if (!consumer) throw new HttpError(404, 'OUTBOX_NOT_FOUND', `no consumer ${JSON.stringify(name)} in the config`);
    return consumer;
  };

  /** Each route's answer (sent as JSON), for the caller `actor`. */
  return async function route(request: IncomingMessage, url: URL, actor: Actor): Promise<unknown> {
    const method = request.method ?? 'GET';
    const path = url.pathname;
    const dlq = /^\/api\/dlq\/([^/]+)(?:\/(replay|purge))?$/.exec(path);
    if (method === 'GET' && path === '/api/overview') return cachedOverview();
    if (method === 'GET' && path === '/api/consumers') return options.consumers.map(({ name, ordered, eventTypes }) => ({ name, ordered, eventTypes }));
    if (method === 'GET' && path === '/api/messages') {
      const search = (url.searchParams.get('q') ?? '').trim();
      if (search.length === 0 || search.length > 255)
        throw new HttpError(400, 'OUTBOX_INVALID_OPTIONS', 'search by a message id, an ordering key or a correlation id (1-255 characters)');
      return findJourneys(query, search, options.consumers);
    }
    if (method === 'GET' && path === '/api/reconciler/runs') return readReconcilerRuns(query, 50);
    if (method === 'GET' && path === '/api/audit') return readAuditLog(query, 200);
    if (dlq && method === 'GET' && !dlq[2]) {
      const consumer = consumerNamed(decodeURIComponent(dlq[1]!));
      const limit = Math.min(500, Math.max(1, Number(url.searchParams.get('limit') ?? 100) || 100));
      return { consumer: consumer.name, deadLetters: await listConsumerDeadLetters(options.amqpUrl, consumer.name, limit) };
    }
    if (method !== 'POST') throw new HttpError(404, 'OUTBOX_NOT_FOUND', `no route ${method} ${path}`);

    const refused = guard.refusedAction(request);
    if (refused) throw new HttpError(403, 'OUTBOX_CSRF_REFUSED', refused);
    const body = await readJsonBody(request);
    const audit = { query, who: actor };
    if (dlq && dlq[2] === 'replay') {
      const consumer = consumerNamed(decodeURIComponent(dlq[1]!));
      const select = parseBody(selectionBody, body, 'replay');
      const replayed = await replayConsumerDeadLetters(
        options.amqpUrl,
        audit,
        consumer.name,
        'all' in select ? 'all' : { messageIds: select.messageIds },
        consumer.ordered,
      );
      logger.info(
        { consumer: consumer.name, actor: actor.actor, replayed: replayed.length, messageIds: replayed.slice(0, 20) },
        'dead letters replayed from the console',
      );
      overview = undefined;
      return { consumer: consumer.name, replayed };
    }
    if (dlq && dlq[2] === 'purge') {
      const consumer = consumerNamed(decodeURIComponent(dlq[1]!));
      const { confirm } = parseBody(purgeBody, body, 'purge');
      if (confirm !== consumer.name) throw new HttpError(400, 'OUTBOX_INVALID_OPTIONS', `purge: confirm must be the consumer's name (${consumer.name})`);
      const purged = await purgeConsumerDeadLetters(options.amqpUrl, audit, consumer.name);
      logger.warn({ consumer: consumer.name, actor: actor.actor, purged }, 'dead letters purged from the console');
      overview = undefined;
      return { consumer: consumer.name, purged };
    }
    if (path === '/api/relay/retry-failed') {
      const select = parseBody(selectionBody, body, 'retry-failed');
      const retried = await retryFailedRows(audit, 'all' in select ? undefined : select.messageIds);
      logger.info({ actor: actor.actor, retried: retried.length }, 'failed outbox rows retried from the console');
      overview = undefined;
      return { retried };
    }
    throw new HttpError(404, 'OUTBOX_NOT_FOUND', `no route ${method} ${path}`);
  };
}
