// `outbox init` on apps shaped as users have them: a single schema.prisma with models
// and no migrations, a schema folder with migrations of its own, a prisma.config.ts
// naming other paths, outbox models copied by hand. Each result must migrate, and
// build exactly the database its schema describes (what `prisma migrate dev` checks).
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isOutboxError, migrateDatabase } from '../../src/index.js';
import { diffSchemas } from '../../src/migrations/diffSchemas.js';
import { initApp } from '../../src/migrations/initApp.js';
import { readSchemaFiles } from '../../src/migrations/readSchemaFiles.js';
import { adminQuery, dropDatabase, queryDatabase, scratchDatabaseName } from '../support/adminDatabase.js';
import { databaseUrl, maintenanceUrl } from '../support/databaseUrls.js';
import { schemaDump } from '../support/schemaDump.js';

const databases: string[] = [];
const folders: string[] = [];
afterAll(async () => {
  await Promise.all(databases.map(dropDatabase));
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

const GENERATOR = `generator client {\n  provider = "prisma-client"\n  output   = "../generated/prisma"\n}\n\ndatasource db {\n  provider = "postgresql"\n}\n`;
const APP_MODELS = `
model Customer {
  id     String  @id @default(uuid()) @db.Uuid
  email  String  @unique
  orders Order[]
}

model Order {
  id         String   @id @default(uuid()) @db.Uuid
  customerId String   @db.Uuid
  customer   Customer @relation(fields: [customerId], references: [id])
  total      Int
}
`;

async function scratchApp(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'outbox-init-'));
  folders.push(root);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content);
  }
  return root;
}

const migrationNames = async (dir: string) =>
  (await readdir(dir, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

/** Migrates a fresh database from the app's folder, builds another from its schema alone, and compares them. */
async function expectNoDrift(schemaPath: string, migrationsDir: string): Promise<string> {
  const fromMigrations = scratchDatabaseName('init_migrations');
  const fromSchema = scratchDatabaseName('init_schema');
  databases.push(fromMigrations, fromSchema);
  await migrateDatabase({ databaseUrl: databaseUrl(fromMigrations), migrationsDir, schemaPath });
  await adminQuery(`CREATE DATABASE ${fromSchema}`);
  await queryDatabase(fromSchema, await diffSchemas(maintenanceUrl, 'empty', await readSchemaFiles(schemaPath)));
  const [migrated, described] = await Promise.all([schemaDump(fromMigrations), schemaDump(fromSchema)]);
  expect(migrated).toContain('outbox_message_pending_due_idx');
  expect(migrated).toBe(described);
  return fromMigrations;
}

describe('outbox init', () => {
  it('adds the outbox to a single-file schema with models and no migrations: a baseline first, then the outbox migrations; idempotent', async () => {
    const root = await scratchApp({ 'prisma/schema.prisma': GENERATOR + APP_MODELS });
    const now = new Date('2026-11-25T10:00:00Z');
    const report = await initApp({ cwd: root, databaseUrl: maintenanceUrl, now });

    expect(report.schemaPath).toBe(path.join('prisma', 'schema.prisma'));
    expect(report.migrationsDir).toBe(path.join('prisma', 'migrations'));
    expect(report.addedMigrations).toEqual([
      '20261125100000_baseline',
      '20261125100001_outbox_tables',
      '20261125100002_outbox_relay_ordering_index',
      '20261125100003_outbox_reconciler',
      '20261125100004_outbox_reconciler_reschedule',
      '20261125100005_outbox_watermark_xid',
      '20261125100006_outbox_ordered_consumers',
      '20261125100007_outbox_audit_log',
    ]);
    expect(report.baseline).toBe('20261125100000_baseline');
    const schema = await readFile(path.join(root, 'prisma/schema.prisma'), 'utf8');
    expect(schema).toContain('previewFeatures = ["partialIndexes"]');
    expect(schema).toContain('@@map("outbox_message")');
    expect(schema.startsWith(GENERATOR.slice(0, 40))).toBe(true);
    expect(await readFile(path.join(root, 'prisma/migrations/migration_lock.toml'), 'utf8')).toContain('provider = "postgresql"');
    const baseline = await readFile(path.join(root, 'prisma/migrations/20261125100000_baseline/migration.sql'), 'utf8');
    expect(baseline).toContain('CREATE TABLE "Customer"');
    expect(baseline).not.toContain('outbox');

    const again = await initApp({ cwd: root, databaseUrl: maintenanceUrl, now: new Date('2026-11-26T00:00:00Z') });
    expect(again.changedFiles).toEqual([]);
    expect(again.addedMigrations).toEqual([]);
    expect(again.presentMigrations).toHaveLength(7);

    const database = await expectNoDrift(path.join(root, 'prisma/schema.prisma'), path.join(root, 'prisma/migrations'));
    const applied = await queryDatabase<{ migration_name: string }>(database, 'SELECT migration_name FROM _prisma_migrations ORDER BY migration_name');
    expect(applied.map((row) => row.migration_name)).toEqual(report.addedMigrations);
  });

  it("puts outbox.prisma into a schema folder and names its migrations after the app's latest, even one dated in the future", async () => {
    const root = await scratchApp({
      'prisma/schema/schema.prisma': GENERATOR.replace(
        'provider = "prisma-client"',
        'provider = "prisma-client"\n  previewFeatures = ["relationJoins"]',
      ).replace('../generated', '../../generated'),
      'prisma/schema/shop.prisma': APP_MODELS,
    });
    const appSql = await diffSchemas(maintenanceUrl, 'empty', await readSchemaFiles(path.join(root, 'prisma/schema')));
    await mkdir(path.join(root, 'prisma/schema/migrations/20300101000000_init'), { recursive: true });
    await writeFile(path.join(root, 'prisma/schema/migrations/20300101000000_init/migration.sql'), appSql);

    const report = await initApp({ cwd: root, now: new Date('2026-11-25T10:00:00Z') });
    expect(report.migrationsDir).toBe(path.join('prisma', 'schema', 'migrations'));
    expect(report.baseline).toBeNull();
    expect(report.addedMigrations).toEqual([
      '20300101000001_outbox_tables',
      '20300101000002_outbox_relay_ordering_index',
      '20300101000003_outbox_reconciler',
      '20300101000004_outbox_reconciler_reschedule',
      '20300101000005_outbox_watermark_xid',
      '20300101000006_outbox_ordered_consumers',
      '20300101000007_outbox_audit_log',
    ]);
    expect(await readFile(path.join(root, 'prisma/schema/schema.prisma'), 'utf8')).toContain('previewFeatures = ["relationJoins", "partialIndexes"]');
    expect(await readFile(path.join(root, 'prisma/schema/outbox.prisma'), 'utf8')).toContain('@@map("outbox_inbox")');

    await expectNoDrift(path.join(root, 'prisma/schema'), path.join(root, 'prisma/schema/migrations'));
  });

  it("after a package upgrade adds only the migrations the app lacks, after the app's own", async () => {
    const root = await scratchApp({ 'prisma/schema.prisma': GENERATOR + APP_MODELS });
    await initApp({ cwd: root, databaseUrl: maintenanceUrl, now: new Date('2026-11-25T10:00:00Z') });
    // As if the app had installed an older version that shipped only the first migration,
    // then added migrations of its own.
    const migrations = path.join(root, 'prisma/migrations');
    for (const name of [
      '20261125100002_outbox_relay_ordering_index',
      '20261125100003_outbox_reconciler',
      '20261125100004_outbox_reconciler_reschedule',
      '20261125100005_outbox_watermark_xid',
      '20261125100006_outbox_ordered_consumers',
      '20261125100007_outbox_audit_log',
    ])
      await rm(path.join(migrations, name), { recursive: true });
    await mkdir(path.join(migrations, '20261201000000_add_notes'));
    await writeFile(path.join(migrations, '20261201000000_add_notes/migration.sql'), 'ALTER TABLE "Order" ADD COLUMN "notes" TEXT;\n');
    await writeFile(
      path.join(root, 'prisma/schema.prisma'),
      (await readFile(path.join(root, 'prisma/schema.prisma'), 'utf8')).replace('  total      Int\n', '  total      Int\n  notes      String?\n'),
    );

    const upgrade = await initApp({ cwd: root, databaseUrl: maintenanceUrl, now: new Date('2026-11-25T12:00:00Z') });
    expect(upgrade.addedMigrations).toEqual([
      '20261201000001_outbox_relay_ordering_index',
      '20261201000002_outbox_reconciler',
      '20261201000003_outbox_reconciler_reschedule',
      '20261201000004_outbox_watermark_xid',
      '20261201000005_outbox_ordered_consumers',
      '20261201000006_outbox_audit_log',
    ]);
    expect(upgrade.presentMigrations).toEqual(['20261122150000_outbox_tables']);
    expect(await migrationNames(migrations)).toEqual([
      '20261125100000_baseline',
      '20261125100001_outbox_tables',
      '20261201000000_add_notes',
      '20261201000001_outbox_relay_ordering_index',
      '20261201000002_outbox_reconciler',
      '20261201000003_outbox_reconciler_reschedule',
      '20261201000004_outbox_watermark_xid',
      '20261201000005_outbox_ordered_consumers',
      '20261201000006_outbox_audit_log',
    ]);
    await expectNoDrift(path.join(root, 'prisma/schema.prisma'), migrations);
  });

  it('follows prisma.config.ts for the schema and migrations paths', async () => {
    const root = await scratchApp({
      'prisma.config.ts': "export default { schema: 'db/app.prisma', migrations: { path: 'db/history' } };\n",
      'db/app.prisma': GENERATOR,
    });
    const report = await initApp({ cwd: root, now: new Date('2026-11-25T10:00:00Z') });
    expect(report.schemaPath).toBe(path.join('db', 'app.prisma'));
    expect(report.migrationsDir).toBe(path.join('db', 'history'));
    expect(report.baseline).toBeNull();
    expect(await migrationNames(path.join(root, 'db/history'))).toHaveLength(7);
  });

  it('refuses what it must not overwrite, with a typed error and nothing written', async () => {
    const copied = await readFile('prisma/schema/outbox.prisma', 'utf8');
    const root = await scratchApp({ 'prisma/schema.prisma': GENERATOR + copied });
    const error = await initApp({ cwd: root }).catch((caught: unknown) => caught);
    expect(isOutboxError(error, 'OUTBOX_INIT_CONFLICT')).toBe(true);
    expect((error as Error).message).toContain('already defines the outbox tables');
    expect(await readFile(path.join(root, 'prisma/schema.prisma'), 'utf8')).toBe(GENERATOR + copied);

    const mysql = await scratchApp({ 'prisma/schema.prisma': GENERATOR.replace('"postgresql"', '"mysql"') });
    await expect(initApp({ cwd: mysql })).rejects.toMatchObject({ code: 'OUTBOX_INIT_CONFLICT', message: expect.stringContaining('needs "postgresql"') });

    const none = await scratchApp({ 'package.json': '{}' });
    await expect(initApp({ cwd: none })).rejects.toMatchObject({ code: 'OUTBOX_SCHEMA_NOT_FOUND' });

    const needsUrl = await scratchApp({ 'prisma/schema.prisma': GENERATOR + APP_MODELS });
    await expect(initApp({ cwd: needsUrl })).rejects.toMatchObject({ code: 'OUTBOX_INVALID_CONFIG', message: expect.stringContaining('--no-baseline') });
    expect(await readdir(path.join(needsUrl, 'prisma'))).toEqual(['schema.prisma']);
    const withoutBaseline = await initApp({ cwd: needsUrl, baseline: false });
    expect(withoutBaseline.baseline).toBeNull();
  });

  it("lets a database that already has the app's tables mark the baseline applied, then migrates only the outbox", async () => {
    const root = await scratchApp({ 'prisma/schema.prisma': GENERATOR + APP_MODELS });
    const report = await initApp({ cwd: root, databaseUrl: maintenanceUrl, now: new Date('2026-11-25T10:00:00Z') });
    const name = scratchDatabaseName('init_pushed');
    databases.push(name);
    // What `prisma db push` leaves: the app's tables, no migration history.
    await adminQuery(`CREATE DATABASE ${name}`);
    await queryDatabase(name, await readFile(path.join(root, 'prisma/migrations', report.baseline!, 'migration.sql'), 'utf8'));
    await queryDatabase(name, `INSERT INTO "Customer" (id, email) VALUES (gen_random_uuid(), 'kept@example.com')`);

    const result = await migrateDatabase({
      databaseUrl: databaseUrl(name),
      schemaPath: path.join(root, 'prisma/schema.prisma'),
      migrationsDir: path.join(root, 'prisma/migrations'),
      markApplied: report.baseline!,
    });
    expect(result.markedApplied).toBe(report.baseline);
    expect(result.appliedMigrations).toEqual(report.addedMigrations.slice(1));
    expect(await queryDatabase(name, 'SELECT email FROM "Customer"')).toEqual([{ email: 'kept@example.com' }]);
  });
});
