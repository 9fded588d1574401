// `outbox partitions list|enable|create-ahead`: the time-partitioned layout of the
// outbox and inbox tables (docs/partitioning.md). Retention is `outbox prune`, which
// drops whole partitions where it can.
import { parseArgs } from 'node:util';
import { sqltag as sql } from '@prisma/client/runtime/client';
import { isPartitioned, readPartitions } from '../database/partitionLayout.js';
import { createPgSqlStore } from '../database/sqlStore.js';
import { OutboxError } from '../errors.js';
import { enablePartitioning } from '../database/enablePartitioning.js';
import { createPartitionsAhead, PARTITION_LOCK_TIMEOUT_MS } from '../database/maintainPartitions.js';
import { flag, readFlags } from './commandFlags.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { JSON_OPTION, writeReport } from './writeReport.js';

export const PARTITIONS_USAGE = `  partitions list          The outbox and inbox tables' partitions: range, rows (estimated), size (DATABASE_URL)
  partitions enable        Partition both tables by day of message id, keeping every row (one short lock)
  partitions create-ahead  Create the coming days' partitions (the reconciler does it on every run)
            --ahead <7d>   days created ahead     --lock-timeout <5s>   how long a change may wait for the tables' lock     --json`;

const DAY_MS = 86_400_000;

export async function runPartitions(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { ahead: { type: 'string', default: '7d' }, 'lock-timeout': { type: 'string', default: '5s' }, ...JSON_OPTION },
    allowPositionals: true,
    strict: true,
  });
  const { ahead, 'lock-timeout': lockTimeoutMs } = readFlags(values, { ahead: flag.duration(), 'lock-timeout': flag.duration() });
  const [action = 'list'] = positionals;
  if (!['list', 'enable', 'create-ahead'].includes(action) || positionals.length > 1) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'usage: outbox partitions list|enable|create-ahead [--ahead 7d]');
  }
  const aheadDays = Math.max(1, Math.ceil(ahead / DAY_MS));
  // Checking every row before the swap and building two indexes may take a while on a big table.
  const store = createPgSqlStore(readDatabaseUrl(), { applicationName: 'outbox-partitions', maxConnections: 2, queryTimeoutMs: 6 * 60 * 60_000 });
  try {
    if (action === 'enable') {
      const report = await enablePartitioning(store, { aheadDays, lockTimeoutMs });
      const text = report.converted
        ? `partitioned outbox_message and outbox_inbox: rows with ids before ${report.legacyUntil} stay in the *_legacy partitions; created ${report.created.length} day partition(s)`
        : `already partitioned; created ${report.created.length} day partition(s)`;
      writeReport(values.json, report, text);
      return;
    }
    if (!(await isPartitioned(store.query))) {
      throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'the outbox tables are not partitioned: `outbox partitions enable` partitions them');
    }
    if (action === 'create-ahead') {
      const created = await createPartitionsAhead(store, { aheadDays, lockTimeoutMs: lockTimeoutMs || PARTITION_LOCK_TIMEOUT_MS });
      writeReport(values.json, { created }, `created ${created.length} day partition(s)${created.map((each) => `\n  ${each.name}`).join('')}`);
      return;
    }
    const partitions = await readPartitions(store.query);
    const sizes = await store.query<{ name: string; rows: number; bytes: number }>(sql`
      SELECT c.relname AS "name", greatest(c.reltuples, 0)::bigint::float8 AS "rows", pg_total_relation_size(c.oid)::float8 AS "bytes"
        FROM pg_class c WHERE c.relname = ANY(${partitions.map((each) => each.name)}::text[])`);
    const listed = partitions.map((partition) => {
      const size = sizes.find((each) => each.name === partition.name);
      return {
        table: partition.table,
        name: partition.name,
        kind: partition.kind,
        from: partition.fromMs === null ? null : new Date(partition.fromMs).toISOString(),
        to: partition.toMs === null ? null : new Date(partition.toMs).toISOString(),
        estimatedRows: size?.rows ?? 0,
        bytes: size?.bytes ?? 0,
      };
    });
    if (values.json) writeReport(true, listed, '');
    else console.table(listed.map(({ table: _table, bytes, ...row }) => ({ ...row, size: `${(bytes / 1048576).toFixed(1)} MiB` })));
  } finally {
    await store.close();
  }
}
