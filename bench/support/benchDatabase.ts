// A scratch database for one benchmark: created fresh and migrated, dropped at the end.
import pg from 'pg';
import { migrateDatabase } from '../../src/index.js';

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createBenchDatabase(name: string): Promise<BenchDatabase> {
  const server = new URL(process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  const url = new URL(server);
  url.pathname = `/${name}`;
  server.pathname = '/postgres';
  const adminQuery = async (sql: string) => {
    const client = new pg.Client({ connectionString: server.toString() });
    await client.connect();
    await client.query(sql).finally(() => client.end());
  };
  const drop = () => adminQuery(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  await drop();
  await migrateDatabase({ databaseUrl: url.toString() });
  return { url: url.toString(), drop };
}
