// Builds the template database once per run: the migrations applied, exactly as
// `outbox migrate` applies them. Test files clone it (CREATE DATABASE ... TEMPLATE),
// which takes milliseconds instead of a migration run per file.
import { migrateDatabase } from '../../src/migrations/migrateDatabase.js';
import { dropDatabase } from './adminDatabase.js';
import { databaseUrl, TEMPLATE_DATABASE } from './databaseUrls.js';

export default async function setup(): Promise<void> {
  await dropDatabase(TEMPLATE_DATABASE);
  await migrateDatabase({ databaseUrl: databaseUrl(TEMPLATE_DATABASE) });
}
