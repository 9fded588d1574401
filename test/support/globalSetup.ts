// Builds the template database once per run: the migrations applied, exactly as
// `outbox migrate` applies them. Test files clone it (CREATE DATABASE ... TEMPLATE),
// which takes milliseconds instead of a migration run per file.
import pg from 'pg';
import { migrateDatabase } from '../../src/migrations/migrateDatabase.js';
import { databaseUrl, maintenanceUrl, TEMPLATE_DATABASE } from './databaseUrls.js';

export default async function setup(): Promise<void> {
  const admin = new pg.Client({ connectionString: maintenanceUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  await migrateDatabase({ databaseUrl: databaseUrl(TEMPLATE_DATABASE) });
}
