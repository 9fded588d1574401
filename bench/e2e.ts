// npm run bench:e2e [-- --rates 1000,5000,max --seconds 10 --notify on,off --writers 16 --batch-size 1]
//
// What a user feels: the time from the business transaction's commit to the side
// effect done. Writers (this process) commit an order row and its event through the
// public API at a fixed rate (open loop: a late transaction does not delay the next
// ones), or as fast as they can (`max`); the relay and a worker run as in production,
// `outbox relay` and `outbox worker` processes with default options, with the NOTIFY
// wake-up on (`wakeRelay` and `--listen`) and off. The consumer's handler records the
// moment it handled each event as its transaction's last statement (its commit follows
// within one round trip). Reported per run: commit→handled p50/p99/p99.9, the rates,
// and CPU per 1,000 events of each process (PostgreSQL and RabbitMQ included).
// Last line: the NOTIFY run at 1,000 ev/s (else the first fixed rate); the targets
// there are p50 <= 10 ms and p99 <= 50 ms.
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { createOutbox } from '../src/index.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { createBenchVhost } from './support/benchVhost.js';
import { e2eEvents, HANDLED_TABLE_DDL, orderPlaced } from './support/e2eEvents.js';
import { cpuMsBetween, cpuMsByCommand, cpuMsOfPid } from './support/processCpu.js';

const { values } = parseArgs({
  options: {
    rates: { type: 'string', default: '1000,5000,max' },
    seconds: { type: 'string', default: '10' },
    notify: { type: 'string', default: 'on,off' },
    writers: { type: 'string', default: '16' },
    'batch-size': { type: 'string', default: '1' },
  },
});
const rates = values.rates.split(',').map((rate) => (rate === 'max' ? ('max' as const) : Number(rate)));
const seconds = Number(values.seconds);
const notifyModes = values.notify.split(',').map((mode) => mode === 'on');
const writers = Number(values.writers);
const CONFIG = path.resolve('bench/support/e2e.config.ts');
const DRAIN_TIMEOUT_MS = 180_000;

const database = await createBenchDatabase('outbox_bench_e2e');
const vhost = await createBenchVhost('outbox-bench-e2e');
const pool = new pg.Pool({ connectionString: database.url, max: writers + 2 });
// The benchmark database is dropped WITH (FORCE) at the end; a connection reporting that is expected.
pool.on('error', () => {});
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
await pool.query(HANDLED_TABLE_DDL);
const { id: userId } = await prisma.user.create({ data: { email: 'buyer@example.com', name: 'Buyer' } });
const childEnv = {
  ...process.env,
  DATABASE_URL: database.url,
  AMQP_URL: vhost.url,
  LOG_LEVEL: 'warn',
  OUTBOX_SUMMARY_INTERVAL: '0s',
  // The consumer's batchSize (bench/support/e2e.config.ts): 1, its default, unless asked.
  E2E_BATCH_SIZE: values['batch-size'],
};

interface Child {
  process: ChildProcess;
  stderr: () => string;
  stop(): Promise<void>;
}

/** `outbox <args>` from the sources, as its own process (one node process: its pid is the one to read CPU of). */
function startCli(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('src/cli/main.ts'), ...args], { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    process: child,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function runCli(args: string[]): Promise<void> {
  const child = startCli(args);
  const code = await new Promise<number | null>((resolve) => child.process.once('exit', resolve));
  if (code !== 0) throw new Error(`outbox ${args.join(' ')} exited ${code}: ${child.stderr()}`);
}

const nowMs = () => performance.timeOrigin + performance.now();
const sleepMs = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RunResult {
  notify: boolean;
  target: number | 'max';
  events: number;
  writeRate: number;
  handledRate: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  cpuPer1000: Record<string, number>;
}

async function run(target: number | 'max', notify: boolean, relay: Child, worker: Child, durationS: number): Promise<RunResult> {
  await pool.query('TRUNCATE outbox_message, outbox_inbox, bench_e2e_handled, demo_order');
  const outbox = createOutbox({ events: e2eEvents, wakeRelay: notify });
  const commits = new Map<string, number>();
  const cpuBefore = {
    writer: process.cpuUsage(),
    relay: cpuMsOfPid(relay.process.pid!),
    worker: cpuMsOfPid(worker.process.pid!),
    postgres: cpuMsByCommand('postgres'),
    rabbitmq: cpuMsByCommand('beam.smp'),
  };
  const started = nowMs();
  const total = target === 'max' ? Number.POSITIVE_INFINITY : Math.round(target * durationS);
  const endsAt = started + durationS * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (;;) {
        const index = next;
        // Writers that fall behind a fixed rate stop at the deadline too: the run says how far they got.
        if (index >= total || nowMs() >= endsAt) return;
        next += 1;
        if (target !== 'max') {
          const due = started + (index * 1000) / target;
          const wait = due - nowMs();
          if (wait > 0) await sleepMs(wait);
        }
        const messageId = await prisma.$transaction(async (tx) => {
          const order = await tx.order.create({
            data: { userId, lines: [{ sku: 'sku-1', quantity: 1, priceCents: 1999 }], totalCents: 1999 },
            select: { id: true },
          });
          return outbox.publish(tx, orderPlaced, { orderId: order.id, totalCents: 1999 }, { key: order.id });
        });
        commits.set(messageId, nowMs());
      }
    }),
  );
  const wroteFor = nowMs() - started;
  const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const { rows } = await pool.query<{ count: number }>('SELECT count(*)::int AS count FROM bench_e2e_handled');
    if (rows[0]!.count >= commits.size) break;
    if (Date.now() > drainDeadline) {
      throw new Error(
        `only ${rows[0]!.count} of ${commits.size} events handled after ${DRAIN_TIMEOUT_MS} ms\nrelay: ${relay.stderr()}\nworker: ${worker.stderr()}`,
      );
    }
    await sleepMs(50);
  }
  const writerCpu = process.cpuUsage(cpuBefore.writer);
  const cpuMs = {
    writer: (writerCpu.user + writerCpu.system) / 1000,
    relay: cpuMsOfPid(relay.process.pid!) - cpuBefore.relay,
    worker: cpuMsOfPid(worker.process.pid!) - cpuBefore.worker,
    postgres: cpuMsBetween(cpuBefore.postgres, cpuMsByCommand('postgres')),
    rabbitmq: cpuMsBetween(cpuBefore.rabbitmq, cpuMsByCommand('beam.smp')),
  };
  const { rows } = await pool.query<{ id: string; at: number }>(
    'SELECT message_id::text AS id, extract(epoch FROM handled_at) * 1000 AS at FROM bench_e2e_handled',
  );
  const latencies: number[] = [];
  let lastHandled = 0;
  for (const row of rows) {
    const at = Number(row.at);
    lastHandled = Math.max(lastHandled, at);
    latencies.push(at - commits.get(row.id)!);
  }
  latencies.sort((a, b) => a - b);
  const quantile = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))]!;
  const firstCommit = Math.min(...commits.values());
  const events = commits.size;
  return {
    notify,
    target,
    events,
    writeRate: events / (wroteFor / 1000),
    handledRate: events / ((lastHandled - firstCommit) / 1000),
    p50: quantile(0.5),
    p99: quantile(0.99),
    p999: quantile(0.999),
    max: latencies[latencies.length - 1]!,
    cpuPer1000: Object.fromEntries(Object.entries(cpuMs).map(([name, ms]) => [name, ms / (events / 1000)])),
  };
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);
function describeRun(result: RunResult): string {
  const cpu = Object.entries(result.cpuPer1000)
    .map(([name, ms]) => `${name}=${fixed(ms, 0)}`)
    .join(' ');
  // What the machine could carry if CPU were the only limit: its cores over the CPU one event takes, all processes together.
  const cpuPerEventMs = Object.values(result.cpuPer1000).reduce((sum, ms) => sum + ms, 0) / 1000;
  const ceiling = (availableParallelism() * 1000) / cpuPerEventMs;
  return (
    `notify=${result.notify ? 'on ' : 'off'} target=${String(result.target).padStart(5)} ev/s: ${result.events} events, written at ${fixed(result.writeRate, 0)} ev/s, ` +
    `handled at ${fixed(result.handledRate, 0)} ev/s; commit→handled p50=${fixed(result.p50)} p99=${fixed(result.p99)} p99.9=${fixed(result.p999)} max=${fixed(result.max)} ms; ` +
    `CPU ms per 1,000 events: ${cpu} (all: ${fixed(cpuPerEventMs, 2)} ms an event, so ${availableParallelism()} cores carry ~${fixed(ceiling, 0)} ev/s)`
  );
}

const results: RunResult[] = [];
try {
  await runCli(['setup', '--config', CONFIG]);
  for (const notify of notifyModes) {
    const relay = startCli(['relay', ...(notify ? ['--listen'] : [])]);
    const worker = startCli(['worker', '--config', CONFIG]);
    try {
      // Warm-up: both processes up, connections open, code paths compiled.
      await run(200, notify, relay, worker, 2);
      for (const target of rates) {
        const result = await run(target, notify, relay, worker, seconds);
        results.push(result);
        console.log(describeRun(result));
      }
    } finally {
      await Promise.all([relay.stop(), worker.stop()]);
    }
  }
} finally {
  await prisma.$disconnect();
  await pool.end();
  await database.drop();
  await vhost.delete();
}

const headline =
  results.find((result) => result.notify && result.target === 1000) ?? results.find((result) => result.notify && result.target !== 'max') ?? results[0]!;
console.log(`headline: notify=${headline.notify ? 'on' : 'off'}, ${headline.events} events at ${headline.target} ev/s`);
console.log(`e2e p50=${fixed(headline.p50)} p99=${fixed(headline.p99)} rate=${fixed(headline.handledRate, 0)} at=${headline.target}`);
