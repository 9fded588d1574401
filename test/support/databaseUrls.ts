// Where the tests find PostgreSQL. TEST_DATABASE_URL names the server (its database
// part is ignored); every test file works in a database of its own.
const serverUrl = new URL(process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');

// OUTBOX_TEST_TEMPLATE lets two test runs share one server without dropping each other's template.
export const TEMPLATE_DATABASE = process.env.OUTBOX_TEST_TEMPLATE ?? 'outbox_test_template';

export function databaseUrl(name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export const maintenanceUrl = databaseUrl('postgres');
