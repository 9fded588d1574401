// `outbox console`: an HTTP server with a JSON admin API (consoleApi.ts) and one page
// over it (consolePage.ts), behind the guard (consoleSecurity.ts). Data is only ever
// sent as JSON, redacted of every configured URL's password; the page renders it as text.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPgSqlStore } from '../database/sqlStore.js';
import { isOutboxError, OutboxError } from '../errors.js';
import { typedFailure } from '../errorsFromDrivers.js';
import type { Logger } from '../logging/createLogger.js';
import { redactSecrets } from '../logging/redactUrl.js';
import type { Actor } from '../operations/auditLog.js';
import { withTimeout } from '../timing/bounded.js';
import { createConsoleApi, HttpError, type ConsoleApiOptions } from './consoleApi.js';
import { CONSOLE_CSS, CONSOLE_SCRIPT, consolePage } from './consolePage.js';
import { createConsoleGuard, SECURITY_HEADERS } from './consoleSecurity.js';

export type { ConsoleConsumer } from './consoleApi.js';

export interface ConsoleOptions extends ConsoleApiOptions {
  databaseUrl: string;
  /** Default 127.0.0.1. Any other address requires `token`. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** OUTBOX_CONSOLE_TOKEN: required off loopback; when set, required everywhere. */
  token?: string;
  logger: Logger;
}

export interface ConsoleServer {
  /** Where it listens, e.g. http://127.0.0.1:8080/ (never with credentials). */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** No request waits longer than this on the database or the broker. */
const REQUEST_TIMEOUT_MS = 30_000;

function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status;
  const code = (error as { code?: unknown }).code;
  if (code === 'OUTBOX_INVALID_OPTIONS') return 400;
  if (typeof code === 'string' && code.startsWith('OUTBOX_BROKER_')) return 502;
  if (typeof code === 'string' && (code.startsWith('OUTBOX_DATABASE_') || code === 'OUTBOX_TABLES_MISSING')) return 503;
  return 500;
}

export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  const guard = createConsoleGuard(host, options.token);
  const secrets = [options.databaseUrl, ...options.amqpUrl.split(',').map((url) => url.trim())];
  const logger = options.logger.child({ component: 'console' });
  const store = createPgSqlStore(options.databaseUrl, { maxConnections: 4, applicationName: 'outbox-console', onIdleError: () => {} });
  const route = createConsoleApi(options, { query: store.query, guard, logger });

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
