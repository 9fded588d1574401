// `outbox console`: an HTTP server with a JSON admin API and one page over it. It reads
// and acts through the same operations as the CLI (status, the message journey, DLQ
// list/replay/purge, retry-failed, reconciler runs, the audit log), so the two never
// disagree. Data is only ever sent as JSON; the page renders it as text.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { readBrokerStatus, type BrokerReading } from '../broker/readBrokerStatus.js';
import type { BrokerEndpoints } from '../broker/resolveManagementEndpoint.js';
import { createPgSqlStore } from '../database/sqlStore.js';
import { DEFAULT_GRACE_MS } from '../defaults.js';
import { isOutboxError, OutboxError } from '../errors.js';
import { typedFailure } from '../errorsFromDrivers.js';
import type { Logger } from '../logging/createLogger.js';
import { redactSecrets } from '../logging/redactUrl.js';
import { readAuditLog, type Actor } from '../operations/auditLog.js';
import { readConsumerActivity } from '../operations/consumerActivity.js';
import { findJourneys } from '../operations/messageJourney.js';
import { listConsumerDeadLetters, purgeConsumerDeadLetters, replayConsumerDeadLetters, retryFailedRows } from '../operations/operatorActions.js';
import { readReconcilerRuns } from '../operations/reconcilerRuns.js';
import { createThroughputSampler } from '../operations/relayThroughput.js';
import { readStatus } from '../operations/readStatus.js';
import { withTimeout } from '../timing/bounded.js';
import { CONSOLE_CSS, CONSOLE_SCRIPT, consolePage } from './consolePage.js';
import { createConsoleGuard, SECURITY_HEADERS } from './consoleSecurity.js';

export interface ConsoleConsumer {
  name: string;
  /** The catalog's event types its patterns match. */
  eventTypes: string[];
  /** The queues it consumes (an ordered consumer's partitions). */
  queues: string[];
  ordered: boolean;
}

export interface ConsoleOptions {
  databaseUrl: string;
  /** AMQP_URL as given (one URL, or several nodes comma-separated). */
  amqpUrl: string;
  brokerEndpoints: BrokerEndpoints;
  consumers: readonly ConsoleConsumer[];
  /** Default 127.0.0.1. Any other address requires `token`. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** OUTBOX_CONSOLE_TOKEN: required off loopback; when set, required everywhere. */
  token?: string;
  logger: Logger;
  unroutableQueue?: string;
}

export interface ConsoleServer {
  /** Where it listens, e.g. http://127.0.0.1:8080/ (never with credentials). */
  url: string;
  port: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 65_536;
/** One overview serves every page that asks within this time (status reads are not free). */
const OVERVIEW_CACHE_MS = 2_000;
/** The broker's half (an AMQP connection and the management API) is read at most this often (its statistics refresh every ~5 s). */
const BROKER_CACHE_MS = 5_000;
/** No request waits longer than this on the database or the broker. */
const REQUEST_TIMEOUT_MS = 30_000;

const messageIds = z.array(z.uuid()).min(1).max(1000);
const replayBody = z.union([z.strictObject({ messageIds }), z.strictObject({ all: z.literal(true) })]);
const retryBody = z.union([z.strictObject({ messageIds }), z.strictObject({ all: z.literal(true) })]);
const purgeBody = z.strictObject({ confirm: z.string() });

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  const code = (error as { code?: unknown }).code;
  if (code === 'OUTBOX_INVALID_OPTIONS') return 400;
  if (typeof code === 'string' && code.startsWith('OUTBOX_BROKER_')) return 502;
  if (typeof code === 'string' && (code.startsWith('OUTBOX_DATABASE_') || code === 'OUTBOX_TABLES_MISSING')) return 503;
  return 500;
}

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

export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  const guard = createConsoleGuard(host, options.token);
  const secrets = [options.databaseUrl, ...options.amqpUrl.split(',').map((url) => url.trim())];
  const logger = options.logger.child({ component: 'console' });
  const store = createPgSqlStore(options.databaseUrl, { maxConnections: 4, applicationName: 'outbox-console', onIdleError: () => {} });
  const query = store.query;
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

  /** The API: each route's answer (sent as JSON), for the caller `actor`. */
  async function route(request: IncomingMessage, url: URL, actor: Actor): Promise<unknown> {
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
      const select = parseBody(replayBody, body, 'replay');
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
      const select = parseBody(retryBody, body, 'retry-failed');
      const retried = await retryFailedRows(audit, 'all' in select ? undefined : select.messageIds);
      logger.info({ actor: actor.actor, retried: retried.length }, 'failed outbox rows retried from the console');
      overview = undefined;
      return { retried };
    }
    throw new HttpError(404, 'OUTBOX_NOT_FOUND', `no route ${method} ${path}`);
  }

  function send(response: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
    response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
    response.end(body);
  }
  const sendJson = (response: ServerResponse, status: number, value: unknown) =>
    // A last pass over every answer: no password of a configured URL ever leaves the server.
    send(response, status, 'application/json; charset=utf-8', redactSecrets(JSON.stringify(value), secrets));

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const refusedHost = guard.refusedHost(request);
    if (refusedHost) return sendJson(response, 421, { error: { code: 'OUTBOX_HOST_REFUSED', message: refusedHost } });
    const user = guard.authenticate(request);
    if (user === undefined) {
      return send(
        response,
        401,
        'application/json; charset=utf-8',
        JSON.stringify({ error: { code: 'OUTBOX_UNAUTHORIZED', message: 'credentials required' } }),
        {
          'www-authenticate': 'Basic realm="outbox console", charset="UTF-8"',
        },
      );
    }
    const url = new URL(request.url ?? '/', 'http://console.invalid');
    if (request.method === 'GET' && url.pathname === '/') return send(response, 200, 'text/html; charset=utf-8', consolePage(guard.csrfToken));
    if (request.method === 'GET' && url.pathname === '/console.js') return send(response, 200, 'text/javascript; charset=utf-8', CONSOLE_SCRIPT);
    if (request.method === 'GET' && url.pathname === '/console.css') return send(response, 200, 'text/css; charset=utf-8', CONSOLE_CSS);
    const actor: Actor = { actor: user, source: `console ${request.socket.remoteAddress ?? 'unknown'}` };
    try {
      const answer = await withTimeout(route(request, url, actor), REQUEST_TIMEOUT_MS, `no answer within ${REQUEST_TIMEOUT_MS / 1000} s (database or broker)`);
      sendJson(response, 200, answer);
    } catch (thrown) {
      // A driver's failure (a refused login, a lost connection) as the typed error the CLI would show.
      const error =
        thrown instanceof HttpError || isOutboxError(thrown)
          ? thrown
          : (typedFailure(thrown, { databaseUrl: options.databaseUrl, amqpUrl: options.amqpUrl }) ?? thrown);
      const status = statusOf(error);
      const code = (error as { code?: unknown }).code;
      const message = redactSecrets(error instanceof Error ? error.message : String(error), secrets);
      if (status >= 500) logger.error({ err: { message, code }, path: url.pathname }, 'console request failed');
      sendJson(response, status, { error: { code: typeof code === 'string' ? code : 'OUTBOX_CONSOLE_ERROR', message } });
    }
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger.error({ err: { message: redactSecrets(String(error), secrets) } }, 'console response failed');
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error');
      else response.destroy();
    });
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS + 5_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 8080, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await store.close();
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', `outbox console cannot listen on ${host}:${options.port ?? 8080}: ${(error as Error).message}`);
  }
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.close();
    },
  };
}
