// `outbox init`: adds the outbox to an app's Prisma project, idempotently. The
// models go into the app's schema (a managed block, or outbox.prisma in a schema
// folder), the generator gets the preview feature they need, and the package's
// migrations are copied into the app's migrations folder with timestamps after
// the app's own, so `prisma migrate deploy` and `outbox migrate` both apply them.
// Run again after upgrading the package: only what is new is added.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OutboxError } from '../errors.js';
import { redactSecrets } from '../logging/redactUrl.js';
import { diffSchemas } from './diffSchemas.js';
import { datasourceProvider, definesOutboxTables, hasClientGenerator, managedBlock, outboxModels, withManagedBlock, withPreviewFeature } from './editSchema.js';
import type { SchemaFile } from './loadSchemaEngine.js';
import { locatePrismaProject } from './locatePrismaProject.js';
import { markerId, migrationMarker, readOutboxSchema, readPackageMigrations, type PackageMigration } from './packageMigrations.js';
import { readSchemaFiles } from './readSchemaFiles.js';

export interface InitAppOptions {
  cwd?: string;
  /** Schema file or folder; default: as the prisma CLI finds it. */
  schema?: string | undefined;
  /** Migrations folder; default: as the prisma CLI finds it. */
  migrations?: string | undefined;
  /** Needed only to write a baseline (the schema engine wants a connection; the database is not changed). */
  databaseUrl?: string | undefined;
  /** Write a baseline migration of the app's own models when it has no migrations yet. Default true. */
  baseline?: boolean;
  /** Show what would change, write nothing. */
  dryRun?: boolean;
  now?: Date;
}

export interface InitAppReport {
  schemaPath: string;
  migrationsDir: string;
  /** Files written (or, with dryRun, that would be), relative to cwd. */
  changedFiles: string[];
  /** Migration folders added, in order. */
  addedMigrations: string[];
  /** The baseline among them, if one was written. */
  baseline: string | null;
  /** The package's migrations the app already had, by id. */
  presentMigrations: string[];
}

const LOCK_FILE = 'migration_lock.toml';
const OUTBOX_SCHEMA_FILE = 'outbox.prisma';
const FOLDER_HEADER =
  "// The transactional outbox's tables (prisma-rabbitmq-outbox). Managed by `npx outbox init`:\n" +
  '// rewritten on upgrade, so edits here are lost. Model names are yours to change; the table\n// and column names (@@map / @map) must stay as they are.\n\n';

const conflict = (message: string) => new OutboxError('OUTBOX_INIT_CONFLICT', message);

interface PlannedWrite {
  file: string;
  content: string;
}

/** Prisma's migration timestamp: YYYYMMDDHHMMSS in UTC. */
const timestamp = (date: Date) => date.toISOString().replace(/\D/g, '').slice(0, 14);

function parseTimestamp(name: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_/.exec(name);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map((part) => Number(part));
  return new Date(Date.UTC(y!, mo! - 1, d, h, mi, s));
}

async function readAppMigrations(dir: string): Promise<{ name: string; outboxId: string | undefined }[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return Promise.all(
    entries
      .filter((entry) => entry.isDirectory())
      .map(async (entry) => ({
        name: entry.name,
        outboxId: markerId(await readFile(path.join(dir, entry.name, 'migration.sql'), 'utf8').catch(() => '')),
      })),
  );
}

/** Names for new migrations: timestamps after now and after every existing one, one second apart. */
function nameMigrations(existing: string[], suffixes: string[], now: Date): string[] {
  const latest = existing.map(parseTimestamp).reduce<number>((max, date) => Math.max(max, date?.getTime() ?? 0), 0);
  const start = Math.max(Math.floor(now.getTime() / 1000) * 1000, latest + 1000);
  const names = suffixes.map((suffix, index) => `${timestamp(new Date(start + index * 1000))}_${suffix}`);
  const last = [...existing].sort().at(-1);
  if (last !== undefined && names[0] !== undefined && names[0] <= last) {
    throw conflict(`cannot name new migrations to sort after ${last} (Prisma applies migrations in name order): rename it with a timestamp prefix`);
  }
  return names;
}

function hasModels(files: SchemaFile[]): boolean {
  return files.some((file) => /^\s*(model|enum|view)\s+\w+\s*\{/m.test(file.content));
}

/** Plans the schema edits: the outbox models and the generator's preview feature. */
async function planSchema(schemaPath: string, isFolder: boolean, models: string): Promise<{ writes: PlannedWrite[]; appFiles: SchemaFile[] }> {
  const files = await readSchemaFiles(schemaPath);
  const outboxFile = isFolder ? path.join(schemaPath, OUTBOX_SCHEMA_FILE) : schemaPath;
  const appFiles = isFolder
    ? files.filter((file) => path.resolve(file.path) !== path.resolve(outboxFile))
    : files.map((file) => ({ ...file, content: withManagedBlock(file.content, undefined) }));

  for (const file of appFiles) {
    if (definesOutboxTables(file.content)) {
      throw conflict(`${file.path} already defines the outbox tables (copied by hand?): remove those models, then run outbox init again so it can manage them`);
    }
  }
  if (!files.some((file) => hasClientGenerator(file.content))) {
    throw conflict(`no generator with provider "prisma-client" or "prisma-client-js" in ${schemaPath}`);
  }
  const providers = files.map((file) => datasourceProvider(file.content)).filter((provider) => provider !== undefined);
  if (providers.some((provider) => provider !== 'postgresql')) {
    throw conflict(`the datasource provider is ${providers.join(', ')}; the outbox needs "postgresql"`);
  }

  const desired = new Map<string, string>();
  if (isFolder) {
    for (const file of files) desired.set(file.path, file.content);
    desired.set(outboxFile, `${FOLDER_HEADER}${models}`);
  } else {
    desired.set(schemaPath, withManagedBlock(files[0]!.content, managedBlock(models)));
  }
  for (const [file, content] of desired) desired.set(file, withPreviewFeature(content));

  const current = new Map(files.map((file) => [file.path, file.content]));
  const writes = [...desired].filter(([file, content]) => current.get(file) !== content).map(([file, content]) => ({ file, content }));
  return { writes, appFiles };
}

/**
 * The SQL creating the app's own models. The engine only needs a connection to the
 * server: before the first `migrate` the app's database may not exist yet, so the
 * server's maintenance database stands in then.
 */
async function baselineScript(databaseUrl: string, appFiles: SchemaFile[]): Promise<string> {
  try {
    return await diffSchemas(databaseUrl, 'empty', appFiles);
  } catch (error) {
    if (!/does not exist/.test(error instanceof Error ? error.message : '')) throw error;
    const maintenance = new URL(databaseUrl);
    maintenance.pathname = '/postgres';
    return diffSchemas(maintenance.toString(), 'empty', appFiles);
  }
}

export async function initApp(options: InitAppOptions = {}): Promise<InitAppReport> {
  const cwd = options.cwd ?? process.cwd();
  const project = await locatePrismaProject({ cwd, schema: options.schema, migrations: options.migrations });
  const [shippedSchema, packageMigrations] = await Promise.all([readOutboxSchema(), readPackageMigrations()]);

  const { writes, appFiles } = await planSchema(project.schemaPath, project.schemaIsFolder, outboxModels(shippedSchema));

  const lockFile = path.join(project.migrationsDir, LOCK_FILE);
  const lock = await readFile(lockFile, 'utf8').catch(() => undefined);
  if (lock === undefined) {
    writes.push({
      file: lockFile,
      content: '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n',
    });
  } else if (!/provider\s*=\s*"postgresql"/.test(lock)) {
    throw conflict(`${lockFile} names another provider; the outbox needs "postgresql"`);
  }

  const existing = await readAppMigrations(project.migrationsDir);
  const isPresent = (migration: PackageMigration) =>
    existing.some((entry) => entry.outboxId === migration.id || (entry.outboxId === undefined && entry.name.endsWith(`_${migration.suffix}`)));
  const missing = packageMigrations.filter((migration) => !isPresent(migration));

  let baselineSql: string | undefined;
  if (existing.length === 0 && options.baseline !== false && hasModels(appFiles)) {
    if (!options.databaseUrl) {
      throw new OutboxError(
        'OUTBOX_INVALID_CONFIG',
        'your app has models but no migrations yet: init writes a baseline migration for them first, which needs DATABASE_URL ' +
          '(the schema engine wants a connection; the database is not changed). Set it, or pass --no-baseline if you create your own tables another way',
      );
    }
    const databaseUrl = options.databaseUrl;
    baselineSql = await baselineScript(databaseUrl, appFiles).catch((error: unknown) => {
      throw new OutboxError(
        'OUTBOX_MIGRATION_FAILED',
        `writing the baseline: ${redactSecrets(error instanceof Error ? error.message : String(error), [databaseUrl])}`,
        { cause: error },
      );
    });
  }

  const suffixes = [...(baselineSql === undefined ? [] : ['baseline']), ...missing.map((migration) => migration.suffix)];
  const names = nameMigrations(
    existing.map((entry) => entry.name),
    suffixes,
    options.now ?? new Date(),
  );
  const baseline = baselineSql === undefined ? null : names[0]!;
  if (baselineSql !== undefined) writes.push({ file: path.join(project.migrationsDir, baseline!, 'migration.sql'), content: baselineSql });
  missing.forEach((migration, index) => {
    const name = names[index + (baselineSql === undefined ? 0 : 1)]!;
    writes.push({ file: path.join(project.migrationsDir, name, 'migration.sql'), content: `${migrationMarker(migration.id)}\n${migration.sql}` });
  });

  if (!options.dryRun) {
    for (const write of writes) {
      await mkdir(path.dirname(write.file), { recursive: true });
      await writeFile(write.file, write.content);
    }
  }
  return {
    schemaPath: path.relative(cwd, project.schemaPath) || '.',
    migrationsDir: path.relative(cwd, project.migrationsDir),
    changedFiles: writes.map((write) => path.relative(cwd, write.file)),
    addedMigrations: names,
    baseline,
    presentMigrations: packageMigrations.filter(isPresent).map((migration) => migration.id),
  };
}
