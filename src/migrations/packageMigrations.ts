// What this package ships for an app's database: the outbox models
// (prisma/schema/outbox.prisma) and the migrations that create them
// (prisma/migrations/<timestamp>_outbox_<name>/migration.sql), read from the
// installed package itself.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: two levels above this module, in src/ (tests) as in dist/ (installed). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface PackageMigration {
  /** The folder name as shipped, e.g. 20261122150000_outbox_tables: its identity in an app. */
  id: string;
  /** The name without its timestamp, e.g. outbox_tables. */
  suffix: string;
  sql: string;
}

const OUTBOX_MIGRATION = /^\d{14}_outbox_[a-z0-9_]+$/;

export const readOutboxSchema = (root = PACKAGE_ROOT) => readFile(path.join(root, 'prisma/schema/outbox.prisma'), 'utf8');

export async function readPackageMigrations(root = PACKAGE_ROOT): Promise<PackageMigration[]> {
  const dir = path.join(root, 'prisma/migrations');
  const names = (await readdir(dir)).filter((name) => OUTBOX_MIGRATION.test(name)).sort();
  return Promise.all(names.map(async (id) => ({ id, suffix: id.slice(15), sql: await readFile(path.join(dir, id, 'migration.sql'), 'utf8') })));
}

/** The first line of a migration `outbox init` wrote: how it recognises it later, whatever the folder is called. */
export const migrationMarker = (id: string) => `-- prisma-rabbitmq-outbox migration ${id} (written by \`npx outbox init\`; do not edit)`;

export function markerId(sql: string): string | undefined {
  return /^-- prisma-rabbitmq-outbox migration (\S+)/.exec(sql)?.[1];
}
