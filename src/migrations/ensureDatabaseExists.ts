import pg from 'pg';

const DUPLICATE_DATABASE = '42P04';

/**
 * Creates the database named in the URL when it does not exist yet (as `prisma
 * migrate` does for a new database), connecting to the `postgres` maintenance
 * database to do so. Returns whether it created it.
 */
export async function ensureDatabaseExists(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const databaseName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (databaseName === '' || databaseName === 'postgres') return false;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [databaseName]);
    if (existing.rowCount !== 0) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(databaseName)}`);
      return true;
    } catch (error) {
      // Another process created it between our check and our CREATE.
      if ((error as { code?: string }).code === DUPLICATE_DATABASE) return false;
      throw error;
    }
  } finally {
    await client.end();
  }
}
