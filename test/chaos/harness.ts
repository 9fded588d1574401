// The chaos harness: the outbox's processes as children that can be killed and
// restarted, a writer driving the write API, and the faults.
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Channel } from 'amqplib';
import type pg from 'pg';
import { createOutbox } from '../../src/index.js';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { chaosEvents, chaosItem, orphanEvent } from './chaosEvents.js';

const run = promisify(execFile);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ManagedProcess {
  name: string;
  start(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Everything it printed, across restarts. */
  output(): string;
  /** The running process's pid, if it runs. */
  pid(): number | undefined;
}

export function managedProcess(name: string, args: string[], env: Record<string, string>, ready: RegExp): ManagedProcess {
  let current: CliProcess | undefined;
  let earlier = '';
  return {
    name,
    async start() {
      if (current) earlier += current.output();
      const started = startOutboxCli(args, env);
      current = started;
      const deadline = Date.now() + 60_000;
      while (!ready.test(started.output())) {
        if (started.child.exitCode !== null || started.child.signalCode !== null) throw new Error(`${name} exited while starting:\n${started.output()}`);
        if (Date.now() > deadline) throw new Error(`${name} not ready after 60 s:\n${started.output()}`);
        await sleep(100);
      }
    },
    async kill(signal) {
      if (!current || current.child.exitCode !== null || current.child.signalCode !== null) return;
      current.child.kill(signal);
      const force = setTimeout(() => current?.child.kill('SIGKILL'), 30_000);
      await current.exited;
      clearTimeout(force);
    },
    output: () => earlier + (current?.output() ?? ''),
    pid: () => (current && current.child.exitCode === null && current.child.signalCode === null ? current.child.pid : undefined),
  };
}

export async function postgresRestart(): Promise<void> {
  const version = (await run('ls', ['/etc/postgresql'])).stdout.trim().split('\n')[0]!;
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], { timeout: 120_000 });
}

/** Makes sure PostgreSQL runs (a restart that failed half-way must not break later tests). */
export async function ensurePostgres(): Promise<void> {
  const version = (await run('ls', ['/etc/postgresql'])).stdout.trim().split('\n')[0]!;
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']).catch(() => {});
}

class RolledBack extends Error {}

export interface LoadReport {
  committed: number;
  rolledBack: string[];
  /** Transactions that failed for a fault: committed or not, the database says which. */
  failed: number;
  outOfOrderPairs: number;
}

/**
 * Writers on the write API until `signal` aborts: `writers` loops, each owning its
 * keys (so one key's transactions run one after another, as docs/relay.md asks of
 * apps). Mixed in: rollbacks after the publish, poison items, events nobody
 * consumes, and pairs of transactions committing in the opposite order of their ids.
 */
/** Any Prisma client of the generated schema (the test's, or one of your own). */
export interface TransactionRunner {
  $transaction<R>(work: (tx: Prisma.TransactionClient) => Promise<R>): Promise<R>;
}

export async function driveLoad(
  prisma: TransactionRunner,
  options: { writers: number; keysPerWriter: number; pauseMs: number; signal: AbortSignal },
): Promise<LoadReport> {
  const outbox = createOutbox({ events: chaosEvents });
  const report: LoadReport = { committed: 0, rolledBack: [], failed: 0, outOfOrderPairs: 0 };
  const keySeq = new Map<string, number>();
  const nextSeq = (key: string) => {
    const seq = keySeq.get(key) ?? 0;
    keySeq.set(key, seq + 1);
    return seq;
  };
  const writeItem = async (tx: Prisma.TransactionClient, key: string, poison = false) => {
    const itemId = randomUUID();
    const seq = nextSeq(key);
    await tx.$executeRaw`INSERT INTO chaos_item (id, key, key_seq, poison) VALUES (${itemId}::uuid, ${key}, ${seq}, ${poison})`;
    await outbox.publish(tx, chaosItem, { itemId, key, keySeq: seq, poison }, { key });
    return itemId;
  };
  const attempt = async (write: () => Promise<unknown>) => {
    try {
      await write();
      report.committed += 1;
    } catch (error) {
      if (!(error instanceof RolledBack)) report.failed += 1;
    }
  };

  const writer = async (index: number) => {
    const keys = Array.from({ length: options.keysPerWriter }, (_, n) => `key-${index}-${n}`);
    for (let turn = 0; !options.signal.aborted; turn++) {
      const key = keys[turn % keys.length]!;
      const roll = Math.random();
      if (roll < 0.05) {
        await attempt(() =>
          prisma.$transaction(async (tx) => {
            report.rolledBack.push(await writeItem(tx, key));
            throw new RolledBack('the request failed after the publish');
          }),
        );
      } else if (roll < 0.07) {
        await attempt(() => prisma.$transaction((tx) => outbox.publish(tx, orphanEvent, { itemId: randomUUID() })));
      } else if (roll < 0.1) {
        // Two transactions: the first takes the smaller id, the second commits first.
        const other = keys[(turn + 1) % keys.length]!;
        let releaseFirst!: () => void;
        const gate = new Promise<void>((resolve) => (releaseFirst = resolve));
        let published!: () => void;
        const firstPublished = new Promise<void>((resolve) => (published = resolve));
        const first = attempt(() =>
          prisma.$transaction(async (tx) => {
            await writeItem(tx, key);
            published();
            await gate;
          }),
        );
        await Promise.race([firstPublished, first]);
        await attempt(() => prisma.$transaction((tx) => writeItem(tx, other)));
        releaseFirst();
        await first;
        report.outOfOrderPairs += 1;
        turn += 1;
      } else {
        await attempt(() => prisma.$transaction((tx) => writeItem(tx, key, roll > 0.99)));
      }
      await sleep(options.pauseMs);
    }
  };
  await Promise.all(Array.from({ length: options.writers }, (_, index) => writer(index)));
  return report;
}

/** Ends every other session on the database (what a failover or an admin does). */
export async function terminateBackends(pool: pg.Pool, database: string): Promise<number> {
  const { rowCount } = await pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
  return rowCount ?? 0;
}

/** A queue of the harness's own on the events exchange: the checker sees what the broker received, in order. */
export const TAP = 'chaos.tap';

export async function declareTap(channel: Channel): Promise<void> {
  await channel.assertExchange('outbox.unroutable', 'fanout', { durable: true });
  await channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
  await channel.assertQueue(TAP, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(TAP, 'outbox.events', 'chaos.#');
}
