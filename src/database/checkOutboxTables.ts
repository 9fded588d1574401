import { sqltag as sql } from '@prisma/client/runtime/client';
import { OutboxError } from '../errors.js';
import type { QueryRows } from './sqlStore.js';

const TABLES = ['outbox_message', 'outbox_inbox', 'outbox_consumer', 'outbox_reconciler_run'];

/**
 * Fails with OUTBOX_TABLES_MISSING (and what to run) when the outbox's migrations
 * were not applied, so a process does not start and then fail on every batch.
 */
export async function checkOutboxTables(query: QueryRows): Promise<void> {
  const [row] = await query<{ missing: string[] }>(sql`
    SELECT coalesce(array_agg(name), '{}') AS "missing" FROM unnest(${TABLES}::text[]) AS name WHERE to_regclass(name) IS NULL`);
  if (row!.missing.length > 0) {
    throw new OutboxError(
      'OUTBOX_TABLES_MISSING',
      `the outbox tables are missing in this database (${row!.missing.join(', ')}): run \`npx outbox init\`, then \`npx outbox migrate\` (or \`npx prisma migrate deploy\`)`,
    );
  }
}
