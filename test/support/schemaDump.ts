import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { databaseUrl } from './databaseUrls.js';

const run = promisify(execFile);

/** pg_dump --schema-only of a database, without comments and Prisma's own history table: for comparing two databases' schemas. */
export async function schemaDump(name: string): Promise<string> {
  const { stdout } = await run('pg_dump', ['--schema-only', '--no-owner', '--no-privileges', '--exclude-table=_prisma_migrations', databaseUrl(name)]);
  return stdout
    .split('\n')
    .filter((line) => !line.startsWith('--') && !line.startsWith('\\restrict') && !line.startsWith('\\unrestrict'))
    .join('\n')
    .replace(/\n{2,}/g, '\n');
}
