import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';

/**
 * How far the relay is behind: the age, in ms, of the oldest pending row that is
 * due (null when none is). One index probe (outbox_message_pending_due_idx), run
 * by the periodic summary, never by the publish loop. Parameters: none.
 */
export async function readRelayLag(query: QueryRows): Promise<number | null> {
  const [row] = await query<{ lagMs: number | null }>(sql`
    SELECT (extract(epoch FROM now() - min(available_at)) * 1000)::float8 AS "lagMs"
      FROM outbox_message
     WHERE status = 'pending' AND available_at <= now()`);
  return row?.lagMs ?? null;
}
