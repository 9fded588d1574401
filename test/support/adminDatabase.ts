import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { databaseUrl, maintenanceUrl } from './databaseUrls.js';

/** A database name of this run's own (not created). */
export function scratchDatabaseName(label: string): string {
  return `outbox_t_${label}_${randomBytes(3).toString('hex')}`;
}

/** A statement on the maintenance database (CREATE / DROP DATABASE cannot run in the target). */
export async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: maintenanceUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

export function dropDatabase(name: string): Promise<void> {
  return adminQuery(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
}

export async function queryDatabase<T extends pg.QueryResultRow>(name: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl(name) });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}
