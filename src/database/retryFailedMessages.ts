import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from './sqlStore.js';

/**
 * Returns `failed` rows (all, or the given ids) to pending, due now, with a fresh
 * attempt budget; the last error stays for the record until the next attempt.
 * Returns the ids it re-queued. Parameters: ids (null for all).
 */
export async function retryFailedMessages(query: QueryRows, ids?: string[]): Promise<string[]> {
  const rows = await query<{ id: string }>(sql`
    UPDATE outbox_message
       SET status = 'pending', attempts = 0, available_at = now()
     WHERE status = 'failed'
       AND (${ids ?? null}::uuid[] IS NULL OR id = ANY(${ids ?? null}::uuid[]))
    RETURNING id::text AS "id"`);
  return rows.map((row) => row.id);
}
