import { databaseError } from '../errorsFromDrivers.js';
import { isOutboxError } from '../errors.js';
import { checkOutboxTables } from './checkOutboxTables.js';
import type { QueryRows } from './sqlStore.js';

/**
 * Before a long-running process starts: a database that does not exist, refuses the
 * login or lacks the outbox tables is a mistake to report now, with what to do, not an
 * outage to wait out in a retry loop. A database that is only unreachable or
 * restarting is left to the process's own backoff.
 */
export async function preflightDatabase(query: QueryRows, databaseUrl?: string): Promise<void> {
  try {
    await checkOutboxTables(query);
  } catch (error) {
    if (isOutboxError(error)) throw error;
    const typed = databaseError(error, databaseUrl);
    if (typed === undefined || typed.code === 'OUTBOX_DATABASE_UNREACHABLE') return;
    throw typed;
  }
}
