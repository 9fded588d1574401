import { sqltag as sql } from '@prisma/client/runtime/client';
import { OutboxError } from '../errors.js';
import type { TransactionClient } from '../database/transactionClient.js';

export interface OutboxRow {
  id: string;
  eventType: string;
  eventVersion: number;
  orderingKey: string | null;
  /** JSON text. */
  payload: string;
  /** JSON text. */
  headers: string;
  availableAt: Date | null;
}

export const WAKE_UP_CHANNEL = 'outbox_message';

/**
 * Inserts the rows with one statement, whatever their number (arrays unnested
 * server-side), through the caller's transaction client.
 * Parameters: ids, event types, versions, ordering keys, payloads, headers, available-at.
 */
export async function insertOutboxMessages(tx: TransactionClient, rows: OutboxRow[], wakeRelay: boolean): Promise<void> {
  const insert = sql`
    INSERT INTO outbox_message (id, event_type, event_version, ordering_key, payload, headers, available_at)
    SELECT id, event_type, event_version, ordering_key, payload, headers, COALESCE(available_at, now())
    FROM unnest(
      ${rows.map((row) => row.id)}::uuid[],
      ${rows.map((row) => row.eventType)}::varchar[],
      ${rows.map((row) => row.eventVersion)}::int[],
      ${rows.map((row) => row.orderingKey)}::varchar[],
      ${rows.map((row) => row.payload)}::jsonb[],
      ${rows.map((row) => row.headers)}::jsonb[],
      ${rows.map((row) => row.availableAt?.toISOString() ?? null)}::timestamptz[]
    ) AS row (id, event_type, event_version, ordering_key, payload, headers, available_at)`;
  // One notification per call, not per row (PostgreSQL also folds identical
  // notifications of one transaction into one, delivered at commit), in the same
  // statement as the insert: a statement through Prisma costs about as much as the
  // insert itself. A data-modifying CTE runs whether or not it is read.
  const query = wakeRelay ? sql`WITH inserted AS (${insert}) SELECT pg_notify(${WAKE_UP_CHANNEL}, '')` : insert;
  try {
    await tx.$executeRaw(query);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const hint = /outbox_message.*does not exist|does not exist.*outbox_message/s.test(reason)
      ? ' (the outbox tables are missing: apply the outbox migration, e.g. `npx outbox migrate`)'
      : '';
    throw new OutboxError('OUTBOX_WRITE_FAILED', `writing ${rows.length} outbox message(s) failed${hint}: ${reason}`, { cause: error });
  }
}
