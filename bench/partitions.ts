// npm run bench:partitions [-- --days 10 --per-day 100000 --keep 3]
//
// Retention on the same data, plain tables against partitioned ones: `days` days of
// published outbox rows (a key on every third, ~200-byte payloads) with their inbox rows
// (one consumer, all done, watermark past them), then `outbox prune --older-than <keep>d`
// on each. Reports the time, the rows gone, the tables' size and dead tuples after, and
// for the plain tables the VACUUM it still needs to make the space reusable. Then what
// partitions cost the relay: the median claim of 500 rows from a 20,000-row backlog with
// that history present, both layouts. Two databases of its own, dropped at the end.
// Last line: partitions drop=<ms> prune=<ms> speedup=<x> claim-ratio=<partitioned/plain>
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { Sql } from '@prisma/client/runtime/client';
import { createPgSqlStore } from '../src/database/sqlStore.js';
import { DAY_MS } from '../src/database/partitionLayout.js';
import { enablePartitioning } from '../src/database/enablePartitioning.js';
import { pruneOutbox } from '../src/operations/pruneOutbox.js';
import { claimBatch, configureBatchTransaction } from '../src/relay/claimBatch.js';
import { HeadBudget } from '../src/relay/headBudget.js';
import { createBenchDatabase, type BenchDatabase } from './support/benchDatabase.js';

const { values } = parseArgs({
  options: { days: { type: 'string', default: '10' }, 'per-day': { type: 'string', default: '100000' }, keep: { type: 'string', default: '3' } },
});
const days = Number(values.days);
const perDay = Number(values['per-day']);
const keepDays = Number(values.keep);
const now = Date.now();

/** A UUIDv7 of the instant `at` (an SQL timestamptz expression). */
const v7 = (at: string) =>
  `(lpad(to_hex((extract(epoch from ${at}) * 1000)::bigint), 12, '0') || '7' || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid`;

async function load(pool: pg.Pool): Promise<void> {
  for (let day = days; day >= 1; day--) {
    await pool.query(
      `INSERT INTO outbox_message (id, event_type, ordering_key, payload, status, created_at, available_at, published_at)
       SELECT ${v7('t.at')}, 'order.placed', CASE WHEN n % 3 = 0 THEN 'order-' || (n % 5000) END,
              jsonb_build_object('orderId', gen_random_uuid(), 'customerId', gen_random_uuid(), 'note', repeat('x', n % 80)),
              'published', t.at, t.at, t.at
         FROM generate_series(1, $2::int) n, LATERAL (SELECT $3::timestamptz - $1::int * interval '1 day' + n * (interval '1 day' / $2::int) AS at) t`,
      [day, perDay, new Date(now)],
    );
  }
  await pool.query(
    `INSERT INTO outbox_inbox (consumer, message_id, status, received_at, done_at) SELECT 'send-email', id, 'done', created_at, created_at FROM outbox_message`,
  );
  await pool.query(
    `INSERT INTO outbox_consumer (name, registered_at, watermark_xid, watermark_seq)
     SELECT 'send-email', now() - interval '1 year', max(writer_xid::text::bigint)::text::xid8, max(seq) FROM outbox_message`,
  );
  await pool.query('VACUUM ANALYZE outbox_message, outbox_inbox');
}

interface Size {
  mib: number;
  dead: number;
}

/** Both tables with all their partitions: total size, dead tuples. */
async function size(pool: pg.Pool): Promise<Size> {
  await pool.query('SELECT pg_stat_force_next_flush()');
  const { rows } = await pool.query<{ bytes: string; dead: string }>(
    `SELECT sum(pg_total_relation_size(c.oid))::bigint AS bytes, sum(coalesce(s.n_dead_tup, 0))::bigint AS dead
       FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
      WHERE c.relkind = 'r' AND (c.relname LIKE 'outbox_message%' OR c.relname LIKE 'outbox_inbox%')`,
  );
  return { mib: Math.round(Number(rows[0]!.bytes) / 1048576), dead: Number(rows[0]!.dead) };
}

async function medianClaimMs(url: string, partitioned: boolean): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const query = async <Row>(statement: Sql): Promise<Row[]> => (await client.query(statement.text, statement.values)).rows as Row[];
  const times: number[] = [];
  for (let run = 0; run < 21; run++) {
    await client.query('BEGIN');
    await configureBatchTransaction(query, 60_000);
    const started = performance.now();
    const claimed = await claimBatch(query, 500, new HeadBudget(500), { partitioned });
    times.push(performance.now() - started);
    if (claimed.length !== 500) throw new Error(`claimed ${claimed.length}, expected 500`);
    await client.query('ROLLBACK');
  }
  await client.end();
  return times.sort((a, b) => a - b)[10]!;
}

async function addBacklog(pool: pg.Pool): Promise<void> {
  await pool.query(
    `INSERT INTO outbox_message (id, event_type, ordering_key, payload)
     SELECT ${v7("now() - interval '10 minutes' + n * interval '1 ms'")}, 'order.placed', 'order-' || n,
            jsonb_build_object('orderId', gen_random_uuid(), 'note', repeat('x', n % 80))
       FROM generate_series(1, 20000) n`,
  );
  await pool.query('ANALYZE outbox_message');
}

const results: Record<string, { ms: number; rows: number; before: Size; after: Size; vacuumMs?: number; afterVacuum?: Size; claimMs: number }> = {};
const databases: BenchDatabase[] = [];
try {
  for (const layout of ['plain', 'partitioned'] as const) {
    const database = await createBenchDatabase(`outbox_bench_partitions_${layout}`);
    databases.push(database);
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    const store = createPgSqlStore(database.url, { maxConnections: 2, queryTimeoutMs: 60 * 60_000 });
    try {
      if (layout === 'partitioned') await enablePartitioning(store, { aheadDays: days + 7, lockTimeoutMs: 5_000, now: now - (days + 2) * DAY_MS });
      const loadStarted = performance.now();
      await load(pool);
      process.stderr.write(`${layout}: loaded ${days} x ${perDay} rows (and inbox rows) in ${Math.round((performance.now() - loadStarted) / 1000)} s\n`);
      const before = await size(pool);
      const started = performance.now();
      const report = await pruneOutbox(store, { olderThanMs: keepDays * DAY_MS, horizonMs: 7 * DAY_MS });
      const ms = performance.now() - started;
      const after = await size(pool);
      const result: (typeof results)[string] = { ms, rows: report.outboxRows + report.inboxRows, before, after, claimMs: 0 };
      if (layout === 'plain') {
        const vacuumStarted = performance.now();
        await pool.query('VACUUM outbox_message, outbox_inbox');
        result.vacuumMs = performance.now() - vacuumStarted;
        result.afterVacuum = await size(pool);
      }
      await addBacklog(pool);
      result.claimMs = await medianClaimMs(database.url, layout === 'partitioned');
      results[layout] = result;
      const partitions = report.partitions ? `, ${report.partitions.dropped.length} partitions dropped` : '';
      process.stdout.write(
        `${layout.padEnd(12)} prune ${Math.round(ms)} ms, ${result.rows} rows gone${partitions}; ` +
          `before ${before.mib} MiB, after ${after.mib} MiB with ${after.dead} dead tuples` +
          (result.vacuumMs === undefined ? '' : `; VACUUM ${Math.round(result.vacuumMs)} ms -> ${result.afterVacuum!.dead} dead`) +
          `; claim of 500 (median of 21) ${result.claimMs.toFixed(1)} ms\n`,
      );
    } finally {
      await store.close();
      await pool.end();
    }
  }
} finally {
  for (const database of databases) await database.drop();
}
const plain = results.plain!;
const partitioned = results.partitioned!;
// The same rows relative to the same instant; the cutoff is each prune's own now(), so rows
// within the minutes between the two runs may differ (the test compares row by row).
process.stderr.write(`rows gone: plain ${plain.rows}, partitioned ${partitioned.rows}\n`);
const speedup = (plain.ms + (plain.vacuumMs ?? 0)) / partitioned.ms;
process.stdout.write(
  `partitions drop=${Math.round(partitioned.ms)} prune=${Math.round(plain.ms)} speedup=${speedup.toFixed(1)} claim-ratio=${(partitioned.claimMs / plain.claimMs).toFixed(2)}\n`,
);
