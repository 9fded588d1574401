import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/index.js';
import { readMigrationsDirectory } from '../../src/migrations/readMigrationsDirectory.js';
import { dropDatabase, queryDatabase, scratchDatabaseName } from '../support/adminDatabase.js';
import { databaseUrl } from '../support/databaseUrls.js';

const created: string[] = [];
const scratchDirs: string[] = [];
afterAll(async () => {
  await Promise.all(created.map(dropDatabase));
  await Promise.all(scratchDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function newDatabase(label: string): { name: string; url: string } {
  const name = scratchDatabaseName(label);
  created.push(name);
  return { name, url: databaseUrl(name) };
}

async function copyOfMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'outbox-migrations-'));
  scratchDirs.push(dir);
  await cp('prisma/migrations', dir, { recursive: true });
  return dir;
}

describe('migrateDatabase', () => {
  it('creates a missing database, applies every migration and records them as prisma migrate deploy does', async () => {
    const { name, url } = newDatabase('migrate_fresh');
    const result = await migrateDatabase({ databaseUrl: url });

    const onDisk = (await readMigrationsDirectory('prisma/migrations')).migrationDirectories.map((entry) => entry.path);
    expect(onDisk.length).toBeGreaterThan(0);
    expect(result).toEqual({ appliedMigrations: onDisk, editedMigrations: [], createdDatabase: true });

    const recorded = await queryDatabase<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      rolled_back_at: Date | null;
      applied_steps_count: number;
    }>(name, 'SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name');
    expect(recorded.map((row) => row.migration_name)).toEqual(onDisk);
    for (const row of recorded) {
      const sql = await readFile(path.join('prisma/migrations', row.migration_name, 'migration.sql'));
      // Prisma's checksum: SHA-256 of the migration file.
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }

    const tables = await queryDatabase<{ tablename: string }>(name, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    expect(tables.map((row) => row.tablename)).toEqual(expect.arrayContaining(['outbox_message', 'outbox_inbox', '_prisma_migrations']));
  });

  it('applies nothing the second time, and only the new migration after one is added', async () => {
    const { name, url } = newDatabase('migrate_again');
    const migrationsDir = await copyOfMigrations();
    await migrateDatabase({ databaseUrl: url, migrationsDir });
    expect(await migrateDatabase({ databaseUrl: url, migrationsDir })).toMatchObject({ appliedMigrations: [], createdDatabase: false });

    await mkdir(path.join(migrationsDir, '29991231000000_later'));
    await writeFile(path.join(migrationsDir, '29991231000000_later', 'migration.sql'), 'CREATE TABLE later_table (id int PRIMARY KEY);\n');
    expect((await migrateDatabase({ databaseUrl: url, migrationsDir })).appliedMigrations).toEqual(['29991231000000_later']);
    expect(await queryDatabase(name, 'SELECT count(*)::int AS count FROM _prisma_migrations')).toEqual([
      { count: (await readMigrationsDirectory(migrationsDir)).migrationDirectories.length },
    ]);
  });

  it('reports a migration edited after it was applied', async () => {
    const { url } = newDatabase('migrate_edited');
    const migrationsDir = await copyOfMigrations();
    await migrateDatabase({ databaseUrl: url, migrationsDir });
    const [first] = (await readMigrationsDirectory(migrationsDir)).migrationDirectories;
    const file = path.join(migrationsDir, first!.path, 'migration.sql');
    await writeFile(file, `${await readFile(file, 'utf8')}\n-- edited\n`);
    expect(await migrateDatabase({ databaseUrl: url, migrationsDir })).toMatchObject({ appliedMigrations: [], editedMigrations: [first!.path] });
  });

  it('fails with OUTBOX_MIGRATION_FAILED on a broken migration, keeps the earlier ones, and never shows the password', async () => {
    const { name } = newDatabase('migrate_broken');
    // Trust authentication on these machines accepts any password, so one can be shown to be hidden.
    const url = databaseUrl(name).replace('postgres@', 'postgres:Sup3rSecret@');
    const migrationsDir = await copyOfMigrations();
    await mkdir(path.join(migrationsDir, '29991231000000_broken'));
    await writeFile(path.join(migrationsDir, '29991231000000_broken', 'migration.sql'), 'CREATE TABLE broken (id int REFERENCES nowhere(id));\n');

    const error = await migrateDatabase({ databaseUrl: url, migrationsDir }).catch((rejection: unknown) => rejection);
    expect(error).toMatchObject({ code: 'OUTBOX_MIGRATION_FAILED' });
    const message = (error as Error).message;
    expect(message).toContain('29991231000000_broken');
    expect(message).toContain('nowhere');
    expect(message).not.toContain('Sup3rSecret');
    const applied = await queryDatabase<{ migration_name: string }>(name, 'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL');
    expect(applied.length).toBe((await readMigrationsDirectory('prisma/migrations')).migrationDirectories.length);
  });

  it('fails with OUTBOX_MIGRATION_FAILED, password hidden, when the server cannot be reached', async () => {
    const error = await migrateDatabase({ databaseUrl: 'postgresql://app:Sup3rSecret@127.0.0.1:1/nowhere' }).catch((rejection: unknown) => rejection);
    expect(error).toMatchObject({ code: 'OUTBOX_MIGRATION_FAILED' });
    expect((error as Error).message).toContain('postgresql://app:***@127.0.0.1:1/nowhere');
    expect((error as Error).message).not.toContain('Sup3rSecret');
  });

  it('fails with OUTBOX_MIGRATION_FAILED when the folder has no migrations', async () => {
    const { url } = newDatabase('migrate_empty');
    const emptyDir = await mkdtemp(path.join(tmpdir(), 'outbox-no-migrations-'));
    scratchDirs.push(emptyDir);
    await expect(migrateDatabase({ databaseUrl: url, migrationsDir: emptyDir })).rejects.toMatchObject({
      code: 'OUTBOX_MIGRATION_FAILED',
      message: expect.stringContaining('no migrations found'),
    });
  });
});

describe('a failing migration', () => {
  it('is applied all or nothing, like one script sent to PostgreSQL, and semicolons in bodies are fine', async () => {
    const { name, url } = newDatabase('migrate_atomic');
    const migrationsDir = await copyOfMigrations();
    await mkdir(path.join(migrationsDir, '29991231000000_function'));
    await writeFile(
      path.join(migrationsDir, '29991231000000_function', 'migration.sql'),
      `CREATE FUNCTION touch_later() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.note := 'a; b';
  RETURN NEW;
END;
$$;
`,
    );
    await mkdir(path.join(migrationsDir, '29991231000001_half'));
    await writeFile(
      path.join(migrationsDir, '29991231000001_half', 'migration.sql'),
      'CREATE TABLE half_done (id int PRIMARY KEY);\nINSERT INTO half_done VALUES (1);\nCREATE TABLE broken (id int REFERENCES nowhere(id));\n',
    );
    await expect(migrateDatabase({ databaseUrl: url, migrationsDir })).rejects.toMatchObject({ code: 'OUTBOX_MIGRATION_FAILED' });
    const functions = await queryDatabase(name, "SELECT proname FROM pg_proc WHERE proname = 'touch_later'");
    expect(functions).toHaveLength(1);
    const tables = await queryDatabase(name, "SELECT tablename FROM pg_tables WHERE tablename = 'half_done'");
    expect(tables).toEqual([]);
  });
});
