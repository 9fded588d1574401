// npm run bench:steady [-- --rate 2000 --minutes 10 --retention 2m --prune-every 30s --autovacuum on]
//
// Table bloat under a steady load: writers insert outbox rows at a fixed rate (fresh, a
// key each, varied ~200-byte payloads) for the whole run, one `outbox relay` process
// publishes them, and `outbox prune` runs on a schedule with a short retention, as an
// operator's cron would. On a PostgreSQL server of the benchmark's own with autovacuum
// on at its defaults (this machine's server runs with it off). Every 30 s (an eighth of a
// short run) it samples
// the outbox table: total size, live and dead tuples, pending rows, autovacuum runs.
// Flat means the size stops growing once retention is reached: the last sample's size
// against the largest in the run's second quarter.
// Last line: steady rate=<ev/s> maxPending=<rows> sizeMiB=<at half>/<at end> growth=<end/half> autovacuums=<n>
// (maxPending: the largest relay backlog sampled; small means the relay kept up)
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parseDuration } from '../src/cli/parseDuration.js';
import { declareTapQueue, insertPendingRows } from './support/backlogRows.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { createBenchVhost } from './support/benchVhost.js';
import { startScratchPostgres } from './support/scratchPostgres.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    minutes: { type: 'string', default: '10' },
    retention: { type: 'string', default: '2m' },
    'prune-every': { type: 'string', default: '30s' },
    autovacuum: { type: 'string', default: 'on' },
  },
});
const rate = Number(values.rate);
const runMs = Number(values.minutes) * 60_000;
const pruneEveryMs = parseDuration(values['prune-every'], '--prune-every');
const TICK_MS = 100;
const SAMPLE_MS = Math.min(30_000, runMs / 8);

const server = await startScratchPostgres({ autovacuum: values.autovacuum });
process.env.DATABASE_URL = server.url;
const database = await createBenchDatabase('outbox_bench_steady');
const vhost = await createBenchVhost('outbox-bench-steady');
const pool = new pg.Pool({ connectionString: database.url, max: 4 });
pool.on('error', () => {});
const env = { ...process.env, DATABASE_URL: database.url, AMQP_URL: vhost.url, LOG_LEVEL: 'warn', OUTBOX_SUMMARY_INTERVAL: '0s' };
const cli = (args: string[]) =>
  spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
const exited = (child: ReturnType<typeof cli>) => new Promise<number | null>((resolve) => child.once('exit', resolve));

interface Sample {
  atS: number;
  sizeMiB: number;
  live: number;
  dead: number;
  pending: number;
  autovacuums: number;
}

async function sample(startedAt: number): Promise<Sample> {
  await pool.query('SELECT pg_stat_force_next_flush()').catch(() => {});
  const {
    rows: [row],
  } = await pool.query<{ size: string; live: string; dead: string; autovacuums: string; pending: number }>(
    `SELECT pg_total_relation_size('outbox_message') AS size, n_live_tup AS live, n_dead_tup AS dead, autovacuum_count AS autovacuums,
            (SELECT count(*)::int FROM outbox_message WHERE status = 'pending') AS pending
       FROM pg_stat_user_tables WHERE relname = 'outbox_message'`,
  );
  return {
    atS: Math.round((performance.now() - startedAt) / 1000),
    sizeMiB: Math.round((Number(row!.size) / 1024 / 1024) * 10) / 10,
    live: Number(row!.live),
    dead: Number(row!.dead),
    pending: row!.pending,
    autovacuums: Number(row!.autovacuums),
  };
}

let relay: ReturnType<typeof cli> | undefined;
try {
  await declareTapQueue(vhost.url, 'bench.steady.tap');

  relay = cli(['relay']);
  const startedAt = performance.now();
  const samples: Sample[] = [];
  let inserted = 0;
  let lastPrune = performance.now();
  let pruning: Promise<unknown> = Promise.resolve();
  let nextSample = startedAt;
  // Open loop: each tick inserts what the rate owes by now, whatever the last insert took.
  while (performance.now() - startedAt < runMs) {
    const owed = Math.floor(((performance.now() - startedAt) / 1000) * rate) - inserted;
    if (owed > 0) {
      await insertPendingRows(pool, owed);
      inserted += owed;
    }
    if (performance.now() - lastPrune >= pruneEveryMs) {
      lastPrune = performance.now();
      const prune = cli(['prune', '--older-than', values.retention, '--horizon', values.retention]);
      pruning = pruning.then(() => exited(prune));
    }
    if (performance.now() >= nextSample) {
      nextSample += SAMPLE_MS;
      const current = await sample(startedAt);
      samples.push(current);
      console.log(
        `t=${current.atS}s size=${current.sizeMiB} MiB live=${current.live} dead=${current.dead} pending=${current.pending} autovacuums=${current.autovacuums}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  const seconds = (performance.now() - startedAt) / 1000;
  await pruning;
  const last = await sample(startedAt);
  samples.push(last);
  const secondQuarter = samples.filter((each) => each.atS >= seconds / 4 && each.atS <= seconds / 2);
  const half = Math.max(...secondQuarter.map((each) => each.sizeMiB));
  console.log(
    `steady rate=${(inserted / seconds).toFixed(0)} maxPending=${Math.max(...samples.map((each) => each.pending))} sizeMiB=${half}/${last.sizeMiB} growth=${(last.sizeMiB / half).toFixed(2)} autovacuums=${last.autovacuums}`,
  );
} finally {
  if (relay && relay.exitCode === null) {
    const relayExit = exited(relay);
    relay.kill('SIGTERM');
    await relayExit;
  }
  await pool.end();
  await database.drop();
  await vhost.delete();
  await server.stop();
}
