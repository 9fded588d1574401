// `outbox prune --older-than <duration> [--horizon <duration>]`.
import { parseArgs } from 'node:util';
import { pruneOutbox } from '../operations/pruneOutbox.js';
import { createPgSqlStore } from '../database/sqlStore.js';
import { flag, readFlags } from './commandFlags.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { JSON_OPTION, writeReport } from './writeReport.js';

export const PRUNE_USAGE = `  prune     Delete published outbox rows and inbox rows past retention, in small batches; partitioned tables: drop whole days (DATABASE_URL).
            --older-than <30d>   required     --horizon <7d>   rows older are no longer owed to anyone     --json`;

export async function runPrune(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { 'older-than': { type: 'string' }, horizon: { type: 'string', default: '7d' }, ...JSON_OPTION },
    strict: true,
  });
  const { 'older-than': olderThanMs, horizon: horizonMs } = readFlags(values, { 'older-than': flag.duration(), horizon: flag.duration() });
  const store = createPgSqlStore(readDatabaseUrl(), { applicationName: 'outbox-prune', queryTimeoutMs: 60 * 60_000 });
  try {
    const report = await pruneOutbox(store, { olderThanMs, horizonMs });
    const partitions = report.partitions
      ? `; dropped ${report.partitions.dropped.length} partition(s)${report.partitions.dropped.map((each) => `\n  dropped ${each.name} (${each.rows} rows)`).join('')}` +
        report.partitions.kept.map((each) => `\n  kept ${each.name}: ${each.reason}`).join('')
      : '';
    writeReport(values.json, report, `pruned ${report.outboxRows} outbox row(s) and ${report.inboxRows} inbox row(s)${partitions}`);
  } finally {
    await store.close();
  }
}
