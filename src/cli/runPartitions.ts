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
      const created = `created ${report.created.length} day partition(s)${report.created.map((each) => `\n  ${each.name}`).join('')}`;
      const text = report.converted
        ? `partitioned outbox_message and outbox_inbox: rows with ids before ${report.legacyUntil} stay in the *_legacy partitions (pruned row by row, dropped whole once that is older than prune's --older-than); ${created}`
        : `already partitioned; ${created}`;
      writeReport(values.json, report, text);
      return;
    }
    if (!(await isPartitioned(store.query))) {
      throw new OutboxError('OUTBOX_NOT_PARTITIONED', 'the outbox tables are not partitioned: `outbox partitions enable` partitions them');
    }
    if (action === 'create-ahead') {
      const created = await createPartitionsAhead(store, { aheadDays, lockTimeoutMs: lockTimeoutMs || PARTITION_LOCK_TIMEOUT_MS });
      writeReport(values.json, { created }, `created ${created.length} day partition(s)${created.map((each) => `\n  ${each.name}`).join('')}`);
      return;
    }
    const partitions = await readPartitions(store.query);
    const sizes = await store.query<{ name: string; rows: number | null; bytes: number }>(sql`
      SELECT c.relname AS "name", CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint::float8 END AS "rows", pg_total_relation_size(c.oid)::float8 AS "bytes"
        FROM pg_class c WHERE c.relname = ANY(${partitions.map((each) => each.name)}::text[])`);
    const listed = partitions.map((partition) => {
      const size = sizes.find((each) => each.name === partition.name);
      return {
        table: partition.table,
        name: partition.name,
        kind: partition.kind,
        from: partition.fromMs === null ? null : new Date(partition.fromMs).toISOString(),
        to: partition.toMs === null ? null : new Date(partition.toMs).toISOString(),
        /** The planner's estimate (cheap on any size); null: not analyzed yet. */
        estimatedRows: size?.rows ?? null,
        bytes: size?.bytes ?? 0,
      };
    });
    if (values.json) writeReport(true, listed, '');
    else {
      for (const each of listed) {
        const range = each.kind === 'default' ? 'ids no other partition covers' : `${each.from ?? 'MINVALUE'} .. ${each.to}`;
        const rows = each.estimatedRows === null ? 'rows unknown (not analyzed yet)' : `~${each.estimatedRows} rows`;
        process.stdout.write(`${each.name.padEnd(28)} ${each.kind.padEnd(7)} ${range.padEnd(50)} ${rows}, ${(each.bytes / 1048576).toFixed(1)} MiB\n`);
      }
    }
  } finally {
    await store.close();
  }
}
