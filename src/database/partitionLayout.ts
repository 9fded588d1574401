// Time-partitioned outbox and inbox (docs/partitioning.md): both tables partitioned by
// range of the message id, a UUIDv7 whose first 48 bits are its Unix milliseconds, so a
// day of messages is a range of ids, and an inbox row lives in the partition of the same
// day as its message. The primary keys (id; consumer, message_id) contain the partition
// key, as PostgreSQL requires of unique indexes on partitioned tables.
import { raw, sqltag as sql, type Sql } from '@prisma/client/runtime/client';
import type { QueryRows } from './sqlStore.js';

export const DAY_MS = 86_400_000;

export interface PartitionedTable {
  table: 'outbox_message' | 'outbox_inbox';
  /** The column partitioned on: the message id. */
  key: 'id' | 'message_id';
}

export const PARTITIONED_TABLES: readonly PartitionedTable[] = [
  { table: 'outbox_message', key: 'id' },
  { table: 'outbox_inbox', key: 'message_id' },
];

/** The smallest UUIDv7 of a Unix millisecond: ids of messages written from `ms` on sort at or after it. */
export function uuidFloor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/** The Unix milliseconds in a UUIDv7 (its first 48 bits). */
export function uuidMillis(uuid: string): number {
  return parseInt(uuid.replace(/-/g, '').slice(0, 12), 16);
}

/** Midnight UTC of the day `ms` falls in. */
export const dayStart = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;

/** A day partition's name: the table's, then _pYYYYMMDD (UTC). */
export function dayPartitionName(table: string, dayMs: number): string {
  return `${table}_p${new Date(dayMs).toISOString().slice(0, 10).replace(/-/g, '')}`;
}

export const legacyPartitionName = (table: string): string => `${table}_legacy`;
export const defaultPartitionName = (table: string): string => `${table}_default`;

export interface Partition {
  table: PartitionedTable['table'];
  name: string;
  /** day: one UTC day of ids; legacy: the table as it was before partitioning (ids up to `to`); default: ids no other partition covers. */
  kind: 'day' | 'legacy' | 'default';
  /** Bounds as Unix milliseconds of the ids; null: unbounded (MINVALUE) or the default partition. */
  fromMs: number | null;
  toMs: number | null;
}

/** Whether outbox_message is partitioned (both tables are converted together). */
export async function isPartitioned(query: QueryRows): Promise<boolean> {
  const [row] = await query<{ partitioned: boolean }>(sql`
    SELECT coalesce((SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('outbox_message')), false) AS "partitioned"`);
  return row!.partitioned;
}

/** The partitions of both tables, each table's in order of its range (default last). */
export async function readPartitions(query: QueryRows): Promise<Partition[]> {
  const rows = await query<{ parent: string; name: string; bound: string }>(sql`
    SELECT parent.relname AS "parent", child.relname AS "name", pg_get_expr(child.relpartbound, child.oid) AS "bound"
      FROM pg_inherits i
      JOIN pg_class parent ON parent.oid = i.inhparent
      JOIN pg_class child ON child.oid = i.inhrelid
     WHERE i.inhparent IN (to_regclass('outbox_message'), to_regclass('outbox_inbox'))`);
  return rows
    .map(({ parent, name, bound }) => {
      const table = parent as Partition['table'];
      if (bound === 'DEFAULT') return { table, name, kind: 'default' as const, fromMs: null, toMs: null };
      const [from, to] = [...bound.matchAll(/'([0-9a-f-]{36})'|MINVALUE/g)].map((match) => (match[1] ? uuidMillis(match[1]) : null));
      return { table, name, kind: name === legacyPartitionName(table) ? ('legacy' as const) : ('day' as const), fromMs: from ?? null, toMs: to ?? null };
    })
    .sort((a, b) => a.table.localeCompare(b.table) || (a.kind === 'default' ? 1 : 0) - (b.kind === 'default' ? 1 : 0) || (a.fromMs ?? -1) - (b.fromMs ?? -1));
}

/** A table or partition name as SQL; only names this module builds (lower-case words) are accepted. */
export function tableName(name: string): Sql {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a table name this module builds: ${name}`);
  return raw(`"${name}"`);
}

/** A partition bound: a literal, since DDL takes no parameters (hex digits and dashes only). */
export const uuidLiteral = (ms: number): Sql => raw(`'${uuidFloor(ms)}'`);

/** For the rest of the transaction, a lock not granted within `ms` fails the statement (55P03) instead of queueing every later one behind it. */
export const setLockTimeout = (ms: number): Sql => sql`SELECT set_config('lock_timeout', ${String(ms)}, true)`;

/**
 * Checks an interrupted `outbox partitions enable` left on the unpartitioned tables (see
 * removeLeftoverBounds), with the millisecond each starts refusing ids at.
 */
export async function readLeftoverBounds(query: QueryRows): Promise<{ table: string; constraint: string; refusesFromMs: number | null }[]> {
  const found = await query<{ table: string; constraint: string; definition: string }>(sql`
    SELECT t.relname AS "table", k.conname AS "constraint", pg_get_constraintdef(k.oid) AS "definition"
      FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
     WHERE t.relname = ANY(${PARTITIONED_TABLES.map((each) => each.table)}::text[]) AND t.relkind = 'r' AND k.conname = t.relname || '_legacy_bound'`);
  return found.map(({ table, constraint, definition }) => {
    const bound = /'([0-9a-f-]{36})'/.exec(definition)?.[1];
    return { table, constraint, refusesFromMs: bound === undefined ? null : uuidMillis(bound) };
  });
}
