// npm run soak -- [--minutes 10] [--writers 4] [--pause 20] [--fail-rate 0.02]
//
// The pipeline at a steady load for a long while, no faults: two relays and two
// workers as processes, the chaos workload's writers on the write API. Every 30 s
// it samples throughput, end-to-end latency (event commit to side effect
// committed), relay lag and each process's RSS; at the end the invariant checker
// judges the run. Not part of CI; results go to docs/reliability.md.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import amqp from 'amqplib';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { CHAOS_CONSUMERS, CHAOS_TABLES_SQL, ORDERED_CHAOS_CONSUMERS } from '../test/chaos/chaosEvents.js';
import { declareTap, driveLoad, managedProcess, sleep, TAP } from '../test/chaos/harness.js';
import { judge, missingWork, readBrokerFacts, readDatabaseFacts } from '../test/chaos/invariants.js';
import { createBenchDatabase } from './support/benchDatabase.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    writers: { type: 'string', default: '4' },
    pause: { type: 'string', default: '20' },
    'fail-rate': { type: 'string', default: '0.02' },
  },
});
const durationMs = Number(values.minutes) * 60_000;
const SAMPLE_MS = 30_000;

const amqpBase = new URL(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const management = process.env.RABBITMQ_MANAGEMENT_URL ?? `http://${amqpBase.hostname}:15672`;
const authorization = `Basic ${Buffer.from(`${decodeURIComponent(amqpBase.username)}:${decodeURIComponent(amqpBase.password)}`).toString('base64')}`;
const api = (method: string, path: string, body?: unknown) =>
  fetch(`${management}/api${path}`, {
    method,
    headers: { authorization, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

const vhost = `outbox-soak-${process.pid}`;
await api('PUT', `/vhosts/${vhost}`);
await api('PUT', `/permissions/${vhost}/${encodeURIComponent(decodeURIComponent(amqpBase.username))}`, { configure: '.*', write: '.*', read: '.*' });
const amqpUrl = new URL(amqpBase);
amqpUrl.pathname = `/${vhost}`;
const database = await createBenchDatabase('outbox_soak');
const pool = new pg.Pool({ connectionString: database.url, max: 4 });
pool.on('error', () => {});
await pool.query(CHAOS_TABLES_SQL);
{
  const connection = await amqp.connect(amqpUrl.toString());
  const channel = await connection.createChannel();
  await declareTap(channel);
  await connection.close();
}

const env = { DATABASE_URL: database.url, AMQP_URL: amqpUrl.toString(), CHAOS_FAIL_RATE: values['fail-rate'], LOG_LEVEL: 'warn' };
const processes = [
  managedProcess('relay-1', ['relay'], { ...env, LOG_LEVEL: 'info' }, /relay started/),
  managedProcess('relay-2', ['relay'], { ...env, LOG_LEVEL: 'info' }, /relay started/),
  managedProcess('worker-1', ['worker', '--config', 'test/chaos/chaos.config.ts'], { ...env, LOG_LEVEL: 'info' }, /"consuming"/),
  managedProcess('worker-2', ['worker', '--config', 'test/chaos/chaos.config.ts'], { ...env, LOG_LEVEL: 'info' }, /"consuming"/),
];
// Children must not outlive the script, whatever happens to it.
process.on('exit', () => {
  for (const each of processes) void each.kill('SIGKILL');
});
process.on('uncaughtException', (error) => {
  console.error(error);
  process.exit(1);
});
process.on('unhandledRejection', (error) => {
  console.error(error);
  process.exit(1);
});
await Promise.all(processes.map((each) => each.start()));

const rssMb = (pid: number | undefined) => {
  if (pid === undefined) return Number.NaN;
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return line ? Number(line[1]) / 1024 : Number.NaN;
};
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: database.url, max: 8 }) });
const stop = new AbortController();
const load = driveLoad(prisma, { writers: Number(values.writers), keysPerWriter: 8, pauseMs: Number(values.pause), signal: stop.signal });

interface Sample {
  minute: string;
  committedPerS: number;
  effectsPerS: number;
  p50Ms: number;
  p99Ms: number;
  relayLagS: number;
  rss: string;
}
const samples: Sample[] = [];
const started = Date.now();
let last = { at: started, committed: 0, effects: 0 };
console.log(`soak: ${values.minutes} min, ${values.writers} writers, pause ${values.pause} ms, handler failure rate ${values['fail-rate']}`);
while (Date.now() - started < durationMs) {
  await sleep(Math.min(SAMPLE_MS, durationMs - (Date.now() - started)));
  const since = new Date(last.at);
  const { rows } = await pool.query<{ committed: number; effects: number; p50: number | null; p99: number | null; lag: string | null }>(
    `SELECT (SELECT count(*)::int FROM chaos_item) AS committed,
            (SELECT count(*)::int FROM chaos_effect) AS effects,
            (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM e.created_at - m.created_at)) * 1000 FROM chaos_effect e JOIN outbox_message m ON m.id = e.message_id WHERE e.created_at >= $1) AS p50,
            (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM e.created_at - m.created_at)) * 1000 FROM chaos_effect e JOIN outbox_message m ON m.id = e.message_id WHERE e.created_at >= $1) AS p99,
            (SELECT extract(epoch FROM now() - min(created_at)) FROM outbox_message WHERE status = 'pending') AS lag`,
    [since],
  );
  const row = rows[0]!;
  const now = Date.now();
  const seconds = (now - last.at) / 1000;
  const sample: Sample = {
    minute: ((now - started) / 60_000).toFixed(1),
    committedPerS: Math.round((row.committed - last.committed) / seconds),
    effectsPerS: Math.round((row.effects - last.effects) / seconds),
    p50Ms: Math.round(row.p50 ?? Number.NaN),
    p99Ms: Math.round(row.p99 ?? Number.NaN),
    relayLagS: Number(Number(row.lag ?? 0).toFixed(2)),
    rss: processes.map((each) => `${each.name} ${rssMb(each.pid()).toFixed(0)}`).join(', '),
  };
  samples.push(sample);
  console.log(JSON.stringify(sample));
  last = { at: now, committed: row.committed, effects: row.effects };
}
stop.abort();
const written = await load;
const expectations = { consumers: CHAOS_CONSUMERS, poisonRefusedBy: 'chaos-effect', orderedConsumers: ORDERED_CHAOS_CONSUMERS, rolledBack: written.rolledBack };
for (let until = Date.now() + 300_000; missingWork(await readDatabaseFacts(pool), expectations) > 0 && Date.now() < until;) await sleep(1_000);
const finalRss = processes.map((each) => `${each.name} ${rssMb(each.pid()).toFixed(0)}`).join(', ');
await Promise.all(processes.map((each) => each.kill('SIGTERM')));
const verdict = judge(
  await readDatabaseFacts(pool),
  await readBrokerFacts(
    amqpUrl.toString(),
    TAP,
    CHAOS_CONSUMERS.map((name) => `${name}.dlq`),
  ),
  expectations,
);

const steady = samples.slice(1);
const mean = (numbers: number[]) => numbers.reduce((sum, value) => sum + value, 0) / Math.max(1, numbers.length);
console.table(samples);
console.log(
  JSON.stringify(
    {
      minutes: Number(values.minutes),
      committedPerS: Math.round(mean(steady.map((each) => each.committedPerS))),
      effectsPerS: Math.round(mean(steady.map((each) => each.effectsPerS))),
      worstWindowP99Ms: Math.max(...steady.map((each) => each.p99Ms)),
      medianWindowP50Ms: [...steady.map((each) => each.p50Ms)].sort((a, b) => a - b)[Math.floor(steady.length / 2)],
      maxRelayLagS: Math.max(...samples.map((each) => each.relayLagS)),
      rssFirst: samples[0]?.rss,
      rssLast: finalRss,
      ...verdict.stats,
      violations: verdict.violations,
    },
    null,
    2,
  ),
);
await prisma.$disconnect();
await pool.end();
await database.drop();
await api('DELETE', `/vhosts/${vhost}`);
process.exitCode = verdict.violations.length === 0 ? 0 : 1;
