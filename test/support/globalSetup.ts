// Builds the template database once per run: the migrations applied, exactly as
// `outbox migrate` applies them. Test files clone it (CREATE DATABASE ... TEMPLATE),
// which takes milliseconds instead of a migration run per file. Each vitest
// project calls this; the first call does the work.
import { migrateDatabase } from '../../src/migrations/migrateDatabase.js';
import { dropDatabase } from './adminDatabase.js';
import { databaseUrl, TEMPLATE_DATABASE } from './databaseUrls.js';

const ONCE = Symbol.for('outbox.tests.templateDatabase');
type WithTemplate = typeof globalThis & { [ONCE]?: Promise<void> };

export default async function setup(): Promise<void> {
  const global = globalThis as WithTemplate;
  global[ONCE] ??= (async () => {
    await dropDatabase(TEMPLATE_DATABASE);
    await migrateDatabase({ databaseUrl: databaseUrl(TEMPLATE_DATABASE) });
  })();
  await global[ONCE];
}
