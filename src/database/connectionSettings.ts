// The liveness settings of every PostgreSQL connection this package opens, and of
// the app's own pool when built with livePgPoolConfig. A connection whose replies
// stop coming (a NAT or firewall dropped it, a partition, a server that committed
// but whose reply was lost) never errors by itself: without these a query on it
// waits forever, and whatever awaits the query is wedged.
import pg from 'pg';

export interface ConnectionLimits {
  /** A statement may run this long: the server cancels it (statement_timeout), and the client gives up a little later. */
  queryTimeoutMs: number;
  /** Opening a connection (TCP, TLS, startup) may take this long. */
  connectTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { queryTimeoutMs: 30_000, connectTimeoutMs: 10_000 };

/** How much later than the server's statement_timeout the client stops waiting for a reply. */
const CLIENT_MARGIN_MS = 5_000;

/** True for the client-side timeout of `liveConnectionConfig`: the connection is dead, not just slow. */
export function isReplyTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

type Callback = (error: Error | null | undefined, result: unknown) => void;

/**
 * A pg client that destroys its connection when a reply timed out (query_timeout).
 * pg alone fails the query but keeps the connection, whose unanswered query still
 * blocks everything queued behind it (a ROLLBACK, the next BEGIN); and Prisma's
 * driver adapter hands a transaction's connection back to the pool without an error,
 * so the pool would lend the dead connection again. Destroyed, the queries queued on
 * it fail at once and the pool drops it.
 */
export class LiveClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    const query = this.query.bind(this) as (...args: unknown[]) => unknown;
    const onReply = (error: unknown) => {
      if (isReplyTimeout(error)) this.#drop();
    };
    const watched =
      (callback: Callback): Callback =>
      (error, result) => {
        onReply(error);
        callback(error, result);
      };
    const connect = this.connect.bind(this) as (callback?: (error: Error | undefined) => void) => Promise<void> | undefined;
    (this as { connect: unknown }).connect = (callback?: (error: Error | undefined) => void) => {
      if (callback) return connect((error) => (explainRefusedStartup(error), callback(error)));
      return connect()!.catch((error: unknown) => {
        explainRefusedStartup(error);
        throw error;
      });
    };
    // An own property rather than an override: pg.Client.query has a dozen typed overloads.
    (this as { query: unknown }).query = (config: unknown, values?: unknown, callback?: unknown) => {
      // A Submittable (a cursor, a stream) reports through its own events.
      if (typeof (config as { submit?: unknown } | null)?.submit === 'function') return query(config, values, callback);
      if (typeof values === 'function') return query(config, watched(values as Callback));
      if (typeof callback === 'function') return query(config, values, watched(callback as Callback));
      const result = query(config, values) as Promise<unknown>;
      // Registered before the caller's await, so the connection is gone before it releases it.
      result.then(undefined, onReply);
      return result;
    };
  }

  #drop(): void {
    // pg-pool reads this (private) flag on release: a client that is not queryable is removed, not lent again.
    (this as unknown as { _queryable: boolean })._queryable = false;
    (this as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  }
}

/**
 * pg client/pool settings: TCP keepalive, connect timeout, a server-side and a
 * client-side bound on every statement, and a client that drops a connection whose
 * reply timed out.
 */
export function liveConnectionConfig(connectionString: string | undefined, applicationName: string, limits: Partial<ConnectionLimits> = {}): pg.PoolConfig {
  const { queryTimeoutMs, connectTimeoutMs } = { ...DEFAULT_CONNECTION_LIMITS, ...limits };
  const serverTimeouts = !throughPgBouncer(connectionString);
  return {
    // None: pg reads PGHOST, PGDATABASE... as it does by default.
    ...(connectionString === undefined ? {} : { connectionString }),
    application_name: applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: connectTimeoutMs,
    // Server side: a slow statement gets a clean error and the connection stays usable.
    // A pooler refuses it as a startup parameter (see throughPgBouncer).
    ...(serverTimeouts ? { statement_timeout: queryTimeoutMs } : {}),
    // Client side: a reply that never comes (half-open connection) fails the query, and the connection is destroyed.
    query_timeout: queryTimeoutMs + CLIENT_MARGIN_MS,
    Client: LiveClient,
  };
}

export interface LivePgPoolOptions extends Partial<ConnectionLimits> {
  /** Shows in pg_stat_activity. Default "outbox-app". */
  applicationName?: string;
  /**
   * The server ends a session left idle inside a transaction this long, releasing its
   * locks (the client on the other side may be gone for good). Default queryTimeoutMs + 5 s.
   */
  idleInTransactionTimeoutMs?: number;
}

/**
 * Settings for your app's pg pool, so that the Prisma client the worker runs on never
 * waits forever on a connection that went silent:
 * `new PrismaPg({ ...livePgPoolConfig(process.env.DATABASE_URL), max: 10 })`.
 * A statement may run `queryTimeoutMs` (30 s); a reply later than that plus 5 s drops
 * the connection; connecting may take `connectTimeoutMs` (10 s); TCP keepalive on; a
 * session idle in a transaction is ended by the server after `idleInTransactionTimeoutMs`.
 */
export function livePgPoolConfig(connectionString: string | undefined, options: LivePgPoolOptions = {}): pg.PoolConfig {
  const { applicationName = 'outbox-app', idleInTransactionTimeoutMs, ...limits } = options;
  const config = liveConnectionConfig(connectionString, applicationName, limits);
  const queryTimeoutMs = limits.queryTimeoutMs ?? DEFAULT_CONNECTION_LIMITS.queryTimeoutMs;
  if (throughPgBouncer(connectionString)) return config;
  return { ...config, idle_in_transaction_session_timeout: idleInTransactionTimeoutMs ?? queryTimeoutMs + CLIENT_MARGIN_MS };
}

/**
 * True when the URL says it goes through PgBouncer (`?pgbouncer=true`, Prisma's own
 * convention). PgBouncer refuses startup parameters it does not know, such as
 * statement_timeout ("unsupported startup parameter"), so such connections send none:
 * the client-side reply timeout still bounds every query, and the relay's and
 * reconciler's own transactions set their statement_timeout with SET LOCAL (the only
 * form a transaction-mode pool keeps to one transaction).
 */
export function throughPgBouncer(connectionString: string | undefined): boolean {
  if (connectionString === undefined) return false;
  try {
    return new URL(connectionString).searchParams.get('pgbouncer') === 'true';
  } catch {
    return false;
  }
}

/** What a pooler's refusal of a startup parameter gets added to its message. */
const STARTUP_PARAMETER_HINT =
  ' (the server is a pooler such as PgBouncer, which refuses startup parameters it does not know: ' +
  'add pgbouncer=true to the database URL, e.g. postgresql://…/app?pgbouncer=true, or list statement_timeout ' +
  'and idle_in_transaction_session_timeout in its ignore_startup_parameters)';

function explainRefusedStartup(error: unknown): void {
  if (error instanceof Error && /unsupported startup parameter/.test(error.message) && !error.message.includes(STARTUP_PARAMETER_HINT)) {
    error.message += STARTUP_PARAMETER_HINT;
  }
}

/** SQLSTATEs of a connection lost or refused for now: class 08, shutdown or restart (57P01-3), too many connections. */
const CONNECTION_SQLSTATE = /^(08|57P0[123]$|53300$)/;
/** The Prisma driver adapter's kinds for the same (its mapping of socket errors and of 53300). */
const CONNECTION_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/** Prisma's: cannot reach the server, timed out reaching it, the server closed the connection. */
const PRISMA_CONNECTION_CODES = new Set(['P1001', 'P1002', 'P1017']);
/** pg's and pg-pool's wording for a connection that died, timed out or was never made; Prisma's for no connection in time. */
const CONNECTION_MESSAGES =
  /^(Query read timeout|Connection terminated( unexpectedly| due to connection timeout)?|timeout expired|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable)$|Unable to start a transaction in the given time/;
/** Socket errors: from the database driver when nothing else ran, but just as likely from a handler's own HTTP call. */
const SOCKET_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * True when `error` (a pg or Prisma error, wrapped or not) says the connection to
 * PostgreSQL failed, not the statement: an outage or a network fault that passes, as
 * opposed to a mistake (a missing table, a refused login, a constraint). Bare socket
 * errors (ECONNRESET...) count only with `socketErrors`: where nothing but the
 * database was called.
 */
export function isConnectionFailure(error: unknown, { socketErrors = false } = {}): boolean {
  let current = error;
  for (let depth = 0; current !== null && typeof current === 'object' && depth < 8; depth += 1) {
    const link = current as {
      code?: unknown;
      originalCode?: unknown;
      kind?: unknown;
      message?: unknown;
      cause?: unknown;
      meta?: { driverAdapterError?: unknown };
    };
    for (const code of [link.code, link.originalCode]) {
      if (typeof code !== 'string') continue;
      if (CONNECTION_SQLSTATE.test(code) || PRISMA_CONNECTION_CODES.has(code) || (socketErrors && SOCKET_ERRNOS.has(code))) return true;
    }
    if (typeof link.kind === 'string' && CONNECTION_KINDS.has(link.kind)) return true;
    if (typeof link.message === 'string' && CONNECTION_MESSAGES.test(link.message)) return true;
    current = link.cause ?? link.meta?.driverAdapterError;
  }
  return false;
}
