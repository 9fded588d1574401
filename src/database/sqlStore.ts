// How the relay, the reconciler and the commands reach PostgreSQL: a pg pool of their own (from a URL), or the
// app's Prisma client. Either way each batch runs in one transaction, and the SQL
// is the same Prisma `sql` objects (pg takes their .text and .values).
import type { Sql } from '@prisma/client/runtime/client';
import pg from 'pg';
import { DEFAULT_CONNECTION_LIMITS, isReplyTimeout, liveConnectionConfig, throughPgBouncer, type ConnectionLimits } from './connectionSettings.js';

export type QueryRows = <Row>(query: Sql) => Promise<Row[]>;

export interface SqlStore {
  /** Runs `work` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (query: QueryRows) => Promise<T>, timeoutMs: number): Promise<T>;
  /** A statement outside any batch transaction. */
  query: QueryRows;
  close(): Promise<void>;
}

/** The root Prisma client (or an extended one): what the relay needs of it. */
/**
 * What the outbox needs of a Prisma client: raw SQL. Typed structurally, so the
 * module never imports the app's generated client (any output path, either the
 * `prisma-client` or the `prisma-client-js` generator, extended or not).
 */
export interface RawSqlClient {
  $executeRaw(query: Sql, ...values: unknown[]): PromiseLike<number>;
  $queryRaw<T = unknown>(query: Sql, ...values: unknown[]): PromiseLike<T>;
}

export interface PrismaRootClient extends RawSqlClient {
  $transaction<T>(work: (tx: RawSqlClient) => Promise<T>, options?: { timeout?: number; maxWait?: number }): Promise<T>;
}

export interface PgStoreOptions extends Partial<ConnectionLimits> {
  maxConnections?: number;
  /** Shows in pg_stat_activity (operators, and tests that cut one component's connections). */
  applicationName?: string;
  /** An idle connection lost (server restart, pg_terminate_backend, network). */
  onIdleError?: (error: Error) => void;
}

export function createPgSqlStore(databaseUrl: string, options: PgStoreOptions = {}): SqlStore {
  const { maxConnections = 1, applicationName = 'outbox', onIdleError = () => {}, ...limits } = options;
  const pool = new pg.Pool({ ...liveConnectionConfig(databaseUrl, applicationName, limits), max: maxConnections });
  // Through PgBouncer the connection carries no statement_timeout: each transaction sets its own.
  const queryTimeoutMs = limits.queryTimeoutMs ?? DEFAULT_CONNECTION_LIMITS.queryTimeoutMs;
  const begin = throughPgBouncer(databaseUrl) ? `BEGIN; SET LOCAL statement_timeout = ${Math.floor(queryTimeoutMs)}` : 'BEGIN';
  // An idle connection dropped by the server (restart, pg_terminate_backend) must not crash the process.
  pool.on('error', onIdleError);
  const run =
    (client: pg.Pool | pg.PoolClient): QueryRows =>
    async <Row>(query: Sql) =>
      (await client.query(query.text, query.values)).rows as Row[];
  return {
    query: run(pool),
    async transaction(work) {
      const client = await pool.connect();
      let broken: Error | undefined;
      // A connection killed mid-transaction emits 'error' on the checked-out client;
      // unhandled, that would crash the process. The query in flight fails anyway.
      const onClientError = (error: Error) => {
        broken = error;
      };
      client.on('error', onClientError);
      try {
        await client.query(begin);
        const result = await work(run(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A reply that never came: the connection is dead, a ROLLBACK on it would wait
        // for the same silence. Destroying it ends the transaction on the server too.
        if (isReplyTimeout(error)) broken = error as Error;
        else {
          await client.query('ROLLBACK').catch((rollbackError: Error) => {
            broken = rollbackError;
          });
        }
        throw error;
      } finally {
        client.off('error', onClientError);
        // A connection that failed or could not even roll back is destroyed, not reused.
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/** Statements through a Prisma client (root or transaction). */
export const prismaQueryRows =
  (client: RawSqlClient): QueryRows =>
  async <Row>(query: Sql) =>
    await client.$queryRaw<Row[]>(query);

export function createPrismaSqlStore(prisma: PrismaRootClient): SqlStore {
  const run = prismaQueryRows;
  return {
    query: run(prisma),
    transaction: (work, timeoutMs) => prisma.$transaction((tx) => work(run(tx)), { timeout: timeoutMs, maxWait: timeoutMs }),
    // The app owns its client: never close what we did not open.
    close: async () => {},
  };
}
