// npm run bench:backlog [-- --rows 1000000 --relays 2]
//
// A million-row backlog: N pending rows (fresh, a key each, varied ~200-byte payloads)
// drained by two `outbox relay` processes with default options. Reports the drain rate,
// each relay's peak RSS (VmHWM), and the outbox table's size and dead tuples before the
// drain, after it, after `outbox prune`, and after a VACUUM. Runs in a database and a
// RabbitMQ vhost of its own (one capped queue takes the messages), deleted at the end.
// Last line: backlog rows=<n> rate=<msg/s> peakRssMiB=<max of the relays>
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { declareTapQueue, insertPendingRows } from './support/backlogRows.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { createBenchVhost } from './support/benchVhost.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    relays: { type: 'string', default: '2' },
  },
});
const rows = Number(values.rows);
const relayCount = Number(values.relays);

const database = await createBenchDatabase('outbox_bench_backlog');
const vhost = await createBenchVhost('outbox-bench-backlog');
const pool = new pg.Pool({ connectionString: database.url, max: 2 });
pool.on('error', () => {});
const env = { ...process.env, DATABASE_URL: database.url, AMQP_URL: vhost.url, LOG_LEVEL: 'warn', OUTBOX_SUMMARY_INTERVAL: '0s' };

interface TableState {
  sizeMiB: number;
  live: number;
  dead: number;
}

async function tableState(): Promise<TableState> {
  await pool.query('SELECT pg_stat_force_next_flush()').catch(() => {});
  const {
    rows: [row],
  } = await pool.query<{ size: string; live: string; dead: string }>(
    `SELECT pg_total_relation_size('outbox_message') AS size, n_live_tup AS live, n_dead_tup AS dead
     FROM pg_stat_user_tables WHERE relname = 'outbox_message'`,
  );
  return { sizeMiB: Math.round(Number(row!.size) / 1024 / 1024), live: Number(row!.live), dead: Number(row!.dead) };
}
const describe = (state: TableState) => `${state.sizeMiB} MiB, ${state.live} live / ${state.dead} dead tuples`;

function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}

async function runCli(args: string[]): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`outbox ${args.join(' ')} exited ${code}: ${output}`);
  return output;
}

try {
  // A capped queue bound to every event: the broker confirms each message (dropping the
  // oldest beyond the cap), so the benchmark measures the relay, not a queue a million deep.
  await declareTapQueue(vhost.url, 'bench.backlog.tap');

  const insertStarted = performance.now();
  for (let start = 0; start < rows; start += 50_000) {
    await insertPendingRows(pool, Math.min(50_000, rows - start));
  }
  console.log(`inserted ${rows} rows in ${((performance.now() - insertStarted) / 1000).toFixed(1)} s`);
  const before = await tableState();

  const relays = Array.from({ length: relayCount }, () =>
    spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), 'relay'], { env, stdio: ['ignore', 'ignore', 'inherit'] }),
  );
  const peaks = relays.map(() => 0);
  const started = performance.now();
  for (;;) {
    relays.forEach((relay, index) => (peaks[index] = Math.max(peaks[index]!, peakRssMiB(relay.pid!))));
    const {
      rows: [pending],
    } = await pool.query<{ count: number }>("SELECT count(*)::int AS count FROM outbox_message WHERE status <> 'published'");
    if (pending!.count === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const seconds = (performance.now() - started) / 1000;
  relays.forEach((relay, index) => (peaks[index] = Math.max(peaks[index]!, peakRssMiB(relay.pid!))));
  await Promise.all(relays.map((relay) => new Promise((resolve) => (relay.once('exit', resolve), relay.kill('SIGTERM')))));
  const drained = await tableState();

  const pruneStarted = performance.now();
  await runCli(['prune', '--older-than', '0s', '--horizon', '0s']);
  const pruneSeconds = (performance.now() - pruneStarted) / 1000;
  const pruned = await tableState();
  await pool.query('VACUUM outbox_message');
  const vacuumed = await tableState();

  console.log(
    `drained ${rows} rows with ${relayCount} relays in ${seconds.toFixed(1)} s: ${(rows / seconds).toFixed(0)} msg/s; peak RSS per relay ${peaks.join(', ')} MiB`,
  );
  console.log(`outbox_message before the drain: ${describe(before)}`);
  console.log(`               after the drain:  ${describe(drained)}`);
  console.log(`               after prune (${pruneSeconds.toFixed(1)} s): ${describe(pruned)}`);
  console.log(`               after VACUUM:     ${describe(vacuumed)}`);
  console.log(`backlog rows=${rows} rate=${(rows / seconds).toFixed(0)} peakRssMiB=${Math.max(...peaks)}`);
} finally {
  await pool.end();
  await database.drop();
  await vhost.delete();
}
