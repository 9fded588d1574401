// `outbox migrate`: applies the app's migrations folder (see src/migrations/migrateDatabase.ts),
// found as the prisma CLI finds it unless given.
import { parseArgs } from 'node:util';
import { createLogger } from '../logging/createLogger.js';
import { locatePrismaProject } from '../migrations/locatePrismaProject.js';
import { migrateDatabase } from '../migrations/migrateDatabase.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';

export const MIGRATE_USAGE = `  migrate   Apply your Prisma migrations folder to DATABASE_URL (creating the database if
            needed), recorded exactly as \`prisma migrate deploy\` records them; works without
            Prisma's downloadable engines.
            --schema <file|dir> --migrations <dir>   default: as for init
            --mark-applied <migration>   record it as applied without running it (a baseline
                                         your database already has), like \`prisma migrate resolve --applied\`
            --json`;

export async function runMigrate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { migrations: { type: 'string' }, schema: { type: 'string' }, 'mark-applied': { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
  });
  const databaseUrl = readDatabaseUrl();
  const project = await locatePrismaProject({ schema: values.schema, migrations: values.migrations });
  const logger = createLogger();
  const result = await migrateDatabase({
    databaseUrl,
    migrationsDir: project.migrationsDir,
    schemaPath: project.schemaPath,
    ...(values['mark-applied'] === undefined ? {} : { markApplied: values['mark-applied'] }),
    logger,
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const applied = result.appliedMigrations.length;
    const marked = result.markedApplied ? `marked ${result.markedApplied} applied; ` : '';
    process.stdout.write(`${marked}${applied === 0 ? 'database is up to date' : `applied ${applied} migration(s): ${result.appliedMigrations.join(', ')}`}\n`);
  }
}
