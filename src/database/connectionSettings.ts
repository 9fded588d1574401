// The liveness settings of every PostgreSQL connection this package opens. A
// connection whose replies stop coming (a NAT or firewall dropped it, a partition,
// a server that committed but whose reply was lost) never errors by itself: without
// these a query on it waits forever, and whatever awaits the query is wedged.
import type pg from 'pg';

export interface ConnectionLimits {
  /** A statement may run this long: the server cancels it (statement_timeout), and the client gives up a little later. */
  queryTimeoutMs: number;
  /** Opening a connection (TCP, TLS, startup) may take this long. */
  connectTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { queryTimeoutMs: 30_000, connectTimeoutMs: 10_000 };

/** How much later than the server's statement_timeout the client stops waiting for a reply. */
const CLIENT_MARGIN_MS = 5_000;

/** pg client/pool settings: TCP keepalive, connect timeout, a server-side and a client-side bound on every statement. */
export function liveConnectionConfig(connectionString: string, applicationName: string, limits: Partial<ConnectionLimits> = {}): pg.ClientConfig {
  const { queryTimeoutMs, connectTimeoutMs } = { ...DEFAULT_CONNECTION_LIMITS, ...limits };
  return {
    connectionString,
    application_name: applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: connectTimeoutMs,
    // Server side: a slow statement gets a clean error and the connection stays usable.
    statement_timeout: queryTimeoutMs,
    // Client side: a reply that never comes (half-open connection) fails the query, and the connection is destroyed.
    query_timeout: queryTimeoutMs + CLIENT_MARGIN_MS,
  };
}

/** True for the client-side timeout of `liveConnectionConfig`: the connection is dead, not just slow. */
export function isReplyTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}
