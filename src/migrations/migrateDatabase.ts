// `outbox migrate`: applies a Prisma migrations folder to a database and records
// it in _prisma_migrations exactly as `prisma migrate deploy` would, without the
// native schema engine the `prisma` CLI downloads.
import { OutboxError } from '../errors.js';
import type { Logger } from '../logging/createLogger.js';
import { redactSecrets, redactUrl } from '../logging/redactUrl.js';
import { ensureDatabaseExists } from './ensureDatabaseExists.js';
import { readMigrationsDirectory } from './readMigrationsDirectory.js';
import { readSchemaFiles } from './readSchemaFiles.js';

export interface MigrateDatabaseOptions {
  databaseUrl: string;
  /** Prisma migrations folder. Default: prisma/migrations. */
  migrationsDir?: string;
  /** Schema file or folder, for the datasource provider. Default: prisma/schema. */
  schemaPath?: string;
  /** Record this migration as applied without running it first (a baseline the database already has). */
  markApplied?: string;
  logger?: Logger;
}

export interface MigrateDatabaseResult {
  /** Migrations applied by this call, in order; empty when the database was up to date. */
  appliedMigrations: string[];
  /** Applied migrations whose file changed since (checksum mismatch). */
  editedMigrations: string[];
  createdDatabase: boolean;
  /** The migration recorded as applied without running it, if asked. */
  markedApplied?: string;
}

const NO_FILTER = { externalTables: [], externalEnums: [] };

export async function migrateDatabase(options: MigrateDatabaseOptions): Promise<MigrateDatabaseResult> {
  const { databaseUrl, migrationsDir = 'prisma/migrations', schemaPath = 'prisma/schema', logger } = options;
  // Loaded here, not with the package: an app importing it for publish() never pays for the engine.
  const { describeEngineFailure, loadSchemaEngine } = await import('./loadSchemaEngine.js');
  const fail = (step: string, error: unknown): never => {
    const reason = describeEngineFailure(error);
    throw new OutboxError('OUTBOX_MIGRATION_FAILED', `migrate ${redactUrl(databaseUrl)}: ${step}: ${redactSecrets(reason, [databaseUrl])}`);
  };

  const createdDatabase = await ensureDatabaseExists(databaseUrl).catch((error) => fail('creating the database', error));
  if (createdDatabase) logger?.info({ database: redactUrl(databaseUrl) }, 'created database');

  const [schemaFiles, migrationsList] = await Promise.all([
    readSchemaFiles(schemaPath).catch((error) => fail(`reading the schema at ${schemaPath}`, error)),
    readMigrationsDirectory(migrationsDir),
  ]);
  if (migrationsList.migrationDirectories.length === 0) {
    fail('reading migrations', new Error(`no migrations found in ${migrationsList.baseDir}`));
  }

  const { engine, close } = await loadSchemaEngine(databaseUrl, schemaFiles, (line) => logger?.debug({ engine: line }, 'schema engine'));
  try {
    // Migrations are append-only: say so when an applied one was edited since.
    const diagnosis = await engine
      .diagnoseMigrationHistory({ migrationsList, optInToShadowDatabase: false, filters: NO_FILTER })
      .catch((error) => fail('reading the migration history', error));
    for (const name of diagnosis.editedMigrationNames) {
      logger?.warn({ migration: name }, 'migration was edited after it was applied; add a new migration instead');
    }
    if (options.markApplied !== undefined) {
      const name = options.markApplied;
      if (!migrationsList.migrationDirectories.some((directory) => directory.path === name)) {
        fail('marking a migration applied', new Error(`no migration ${name} in ${migrationsList.baseDir}`));
      }
      await engine.markMigrationApplied({ migrationName: name, migrationsList }).catch((error) => fail(`marking ${name} applied`, error));
      logger?.info({ migration: name }, 'marked migration applied');
    }
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: NO_FILTER }).catch((error) => fail('applying migrations', error));
    for (const name of appliedMigrationNames) logger?.info({ migration: name }, 'applied migration');
    return {
      appliedMigrations: appliedMigrationNames,
      editedMigrations: diagnosis.editedMigrationNames,
      createdDatabase,
      ...(options.markApplied === undefined ? {} : { markedApplied: options.markApplied }),
    };
  } finally {
    await close();
  }
}
