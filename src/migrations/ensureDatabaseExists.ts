import pg from 'pg';

const INVALID_CATALOG_NAME = '3D000'; // database does not exist
const DUPLICATE_DATABASE = '42P04';

/**
 * Creates the database named in the URL when it does not exist yet (as `prisma
 * migrate` does for a new database). Only then does it connect to the `postgres`
 * maintenance database, so a role that may not (managed services) still migrates
 * an existing database. Returns whether it created it.
 */
export async function ensureDatabaseExists(databaseUrl: string): Promise<boolean> {
  const probe = new pg.Client({ connectionString: databaseUrl });
  try {
    await probe.connect();
    return false;
  } catch (error) {
    if ((error as { code?: string }).code !== INVALID_CATALOG_NAME) throw error;
  } finally {
    await probe.end().catch(() => {});
  }

  const url = new URL(databaseUrl);
  const databaseName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(databaseName)}`);
    return true;
  } catch (error) {
    // Another process created it between our probe and our CREATE.
    if ((error as { code?: string }).code === DUPLICATE_DATABASE) return false;
    throw error;
  } finally {
    await admin.end();
  }
}
