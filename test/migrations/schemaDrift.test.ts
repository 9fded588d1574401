// The migrations and the schema files must describe the same database. One scratch
// database is built from the migrations, another from the SQL Prisma derives from
// the schema alone; their pg_dump --schema-only must match.
import { afterAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/index.js';
import { diffSchemas } from '../../src/migrations/diffSchemas.js';
import { readSchemaFiles } from '../../src/migrations/readSchemaFiles.js';
import { adminQuery, dropDatabase, queryDatabase, scratchDatabaseName } from '../support/adminDatabase.js';
import { databaseUrl, maintenanceUrl } from '../support/databaseUrls.js';
import { schemaDump } from '../support/schemaDump.js';

const created: string[] = [];
afterAll(() => Promise.all(created.map(dropDatabase)));

describe('schema drift', () => {
  it('prisma/migrations builds exactly the database that prisma/schema describes', async () => {
    const fromMigrations = scratchDatabaseName('drift_migrations');
    const fromSchema = scratchDatabaseName('drift_schema');
    created.push(fromMigrations, fromSchema);

    await migrateDatabase({ databaseUrl: databaseUrl(fromMigrations) });

    const script = await diffSchemas(maintenanceUrl, 'empty', await readSchemaFiles('prisma/schema'));
    await adminQuery(`CREATE DATABASE ${fromSchema}`);
    await queryDatabase(fromSchema, script);

    const [migrated, described] = await Promise.all([schemaDump(fromMigrations), schemaDump(fromSchema)]);
    expect(migrated).toContain('outbox_message_pending_due_idx');
    expect(migrated).toBe(described);
  });
});
