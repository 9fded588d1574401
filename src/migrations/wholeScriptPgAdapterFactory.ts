import { PrismaPg } from '@prisma/adapter-pg';
import { DriverAdapterError, type SqlDriverAdapter, type SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type pg from 'pg';

/**
 * The pg adapter's executeScript splits a script on every ";" and runs the pieces
 * one by one: a function body containing ";" breaks, and a migration failing
 * half-way stays half-applied. Sending the whole script as one simple query is
 * what the native engine does: PostgreSQL runs it as one implicit transaction.
 */
export class WholeScriptPgAdapterFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres';
  readonly adapterName: string;
  readonly #inner: PrismaPg;

  constructor(readonly pool: pg.Pool) {
    this.#inner = new PrismaPg(pool);
    this.adapterName = this.#inner.adapterName;
  }

  async connect(): Promise<SqlDriverAdapter> {
    const adapter = await this.#inner.connect();
    return Object.assign(adapter, {
      executeScript: async (script: string) => {
        try {
          await this.pool.query(script);
        } catch (error) {
          const failure = error as pg.DatabaseError;
          throw new DriverAdapterError({
            kind: 'postgres',
            code: failure.code ?? 'N/A',
            severity: failure.severity ?? 'ERROR',
            message: failure.message,
            detail: failure.detail,
            column: failure.column,
            hint: failure.hint,
          });
        }
      },
    });
  }

  connectToShadowDb(): Promise<SqlDriverAdapter> {
    return this.#inner.connectToShadowDb();
  }
}
