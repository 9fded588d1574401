import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';

/**
 * Records consumers the first time they are seen (`outbox setup`, a worker or the
 * reconciler starting with them): events written before that are not owed to a new
 * consumer. Returns the names registered by this call.
 */
export async function registerConsumers(query: QueryRows, names: string[]): Promise<string[]> {
  const rows = await query<{ name: string }>(sql`
    INSERT INTO outbox_consumer (name) SELECT unnest(${names}::varchar[])
    ON CONFLICT (name) DO NOTHING
    RETURNING name`);
  return rows.map((row) => row.name);
}
