import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';

/**
 * Records consumers the first time they are seen (a worker or the reconciler
 * starting with them): events written before that are not owed to a new consumer.
 * Parameters: names.
 */
export async function registerConsumers(query: QueryRows, names: string[]): Promise<void> {
  await query(sql`
    INSERT INTO outbox_consumer (name) SELECT unnest(${names}::varchar[])
    ON CONFLICT (name) DO NOTHING
    RETURNING name`);
}
