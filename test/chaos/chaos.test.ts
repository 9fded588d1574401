// The whole pipeline under combined faults: two relays, two workers and the
// reconciler as child processes, writers on the write API, and a schedule of
// crashes, broker and database outages, network faults (a TCP proxy between the
// processes and each server: half-open connections, partitions, resets, latency),
// a purged queue, failing handlers, poison and unroutable events. Nothing restarts
// a process that exits by itself: every one must be running at the end. The
// invariant checker then judges the run from the database and the broker alone.
// Runs alone (the "chaos" project): it stops the broker and restarts PostgreSQL.
import { writeFileSync, mkdirSync } from 'node:fs';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.js';
import { CHAOS_CONSUMERS, CHAOS_TABLES_SQL, ORDERED_CHAOS_CONSUMERS } from './chaosEvents.js';
import { rabbitmqctl } from '../support/rabbitmqctl.js';
import { declareTap, driveLoad, ensurePostgres, type ManagedProcess, managedProcess, postgresRestart, sleep, TAP, terminateBackends } from './harness.js';
import { judge, missingWork, readBrokerFacts, readDatabaseFacts, type Expectations } from './invariants.js';

const LOAD_MS = Number(process.env.CHAOS_LOAD_MS ?? 24_000);
let db: TestDatabase;
let broker: TestBroker;
let pgProxy: FaultProxy;
let amqpProxy: FaultProxy;
const processes: ManagedProcess[] = [];

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('chaos')]);
  pgProxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(db.url).port || 5432) });
  amqpProxy = await startFaultProxy({ host: '127.0.0.1', port: 5672 });
  await db.pool.query(CHAOS_TABLES_SQL);
  await declareTap(broker.channel);
});

afterAll(async () => {
  await Promise.all(processes.map((each) => each.kill('SIGKILL')));
  await Promise.all([pgProxy?.close(), amqpProxy?.close()]);
  await rabbitmqctl('start_app').catch(() => {});
  await rabbitmqctl('await_startup').catch(() => {});
  await ensurePostgres();
  await broker?.delete().catch(() => {});
  await db?.drop().catch(() => {});
});

describe('the pipeline under combined faults', () => {
  it('loses nothing, does no side effect twice, dead-letters only the poison, keeps per-key order', async () => {
    // Every process reaches the servers through the fault proxies; a 2 s heartbeat so that partitions outlast it.
    const env = { DATABASE_URL: pgProxy.url(db.url), AMQP_URL: `${amqpProxy.url(broker.url)}?heartbeat=2`, CHAOS_FAIL_RATE: '0.1' };
    const config = ['--config', 'test/chaos/chaos.config.ts'];
    const relays = ['relay-1', 'relay-2'].map((name) => managedProcess(name, ['relay'], env, /relay started/));
    // Summaries every second: the duplicates count below comes from them (a SIGKILL loses at most a second of it).
    const workers = ['worker-1', 'worker-2'].map((name) =>
      managedProcess(name, ['worker', ...config], { ...env, OUTBOX_SUMMARY_INTERVAL: '1s' }, /"consuming"/),
    );
    const reconciler = managedProcess('reconciler', ['reconcile', ...config, '--schedule', '*/2 * * * * *', '--grace', '9s'], env, /reconciler scheduled/);
    processes.push(...relays, ...workers, reconciler);
    await Promise.all(processes.map((each) => each.start()));

    const faults: string[] = [];
    const inject = async (name: string, fault: () => Promise<unknown>) => {
      await fault();
      faults.push(name);
    };
    const crash = (target: ManagedProcess) => async () => {
      await target.kill('SIGKILL');
      await sleep(1_000);
      await target.start();
    };
    const stopLoad = new AbortController();
    const load = driveLoad(db.prisma, { writers: 6, keysPerWriter: 4, pauseMs: 40, signal: stopLoad.signal });
    const at = (fraction: number) => sleep(LOAD_MS * fraction);
    const schedule = (async () => {
      await at(0.08);
      await inject('relay SIGKILL + restart', crash(relays[0]!));
      await at(0.06);
      await inject('worker SIGKILL + restart', crash(workers[0]!));
      await at(0.06);
      await inject('rabbitmqctl close_all_connections (vhost)', () => rabbitmqctl('close_all_connections', '--vhost', broker.vhost, 'chaos'));
      await at(0.06);
      await inject('pg_terminate_backend (every session of the database)', () => terminateBackends(db.pool, db.name));
      await at(0.06);
      await inject('queue chaos-audit purged', async () => {
        const connection = await amqp.connect(broker.url);
        await (await connection.createChannel()).purgeQueue('chaos-audit');
        await connection.close();
      });
      await at(0.06);
      await inject('rabbitmqctl stop_app, 3 s, start_app', async () => {
        await rabbitmqctl('stop_app');
        await sleep(3_000);
        await rabbitmqctl('start_app');
        await rabbitmqctl('await_startup');
      });
      await at(0.1);
      await inject('PostgreSQL restart', postgresRestart);
      await at(0.08);
      await inject('relay + worker SIGKILL together + restart', () => Promise.all([crash(relays[1]!)(), crash(workers[1]!)()]));
      await at(0.04);
      await inject('network: PostgreSQL half-open (every connection silent for good; new ones too for 3 s)', async () => {
        pgProxy.blackhole();
        await sleep(3_000);
        pgProxy.heal();
      });
      await at(0.04);
      await inject('network: RabbitMQ partition 8 s (past the heartbeat)', () => amqpProxy.partition(8_000));
      await at(0.04);
      await inject('network: RabbitMQ half-open (every connection silent for good; new ones too for 3 s)', async () => {
        amqpProxy.blackhole();
        await sleep(3_000);
        amqpProxy.heal();
      });
      await at(0.04);
      await inject('network: every connection reset, PostgreSQL and RabbitMQ', async () => {
        pgProxy.reset();
        amqpProxy.reset();
      });
      await at(0.04);
      await inject('network: 500 ms latency both ways on both, 4 s', async () => {
        pgProxy.latency(500);
        amqpProxy.latency(500);
        await sleep(4_000);
        pgProxy.latency(0);
        amqpProxy.latency(0);
      });
    })();
    await schedule;
    await sleep(Math.max(0, LOAD_MS * 0.2));
    stopLoad.abort();
    const written = await load;

    const expectations: Expectations = {
      consumers: CHAOS_CONSUMERS,
      poisonRefusedBy: 'chaos-effect',
      rolledBack: written.rolledBack,
      orderedConsumers: ORDERED_CHAOS_CONSUMERS,
    };
    const settleUntil = Date.now() + 180_000;
    let missing = Number.POSITIVE_INFINITY;
    while (missing > 0 && Date.now() < settleUntil) {
      await sleep(1_000);
      missing = missingWork(await readDatabaseFacts(db.pool), expectations);
    }
    await sleep(2_000); // late duplicates, if any, land now
    // Nothing restarted a process that exited by itself: each must still be running.
    const exitedByThemselves = processes.filter((each) => each.pid() === undefined).map((each) => each.name);
    await Promise.all(processes.map((each) => each.kill('SIGTERM')));

    const verdict = judge(
      await readDatabaseFacts(db.pool),
      await readBrokerFacts(
        broker.url,
        TAP,
        CHAOS_CONSUMERS.map((consumer) => `${consumer}.dlq`),
      ),
      expectations,
    );
    const workerOutput = workers.map((each) => each.output()).join('');
    const summary = {
      faults,
      transactions: {
        committed: written.committed,
        rolledBackOnPurpose: written.rolledBack.length,
        failedByFaults: written.failed,
        outOfOrderPairs: written.outOfOrderPairs,
      },
      ...verdict.stats,
      // Per-delivery lines are debug: the workers' info summaries count the skips.
      duplicatesAbsorbedByInbox: workerOutput
        .split('\n')
        .filter((line) => line.includes('"consumer summary"'))
        .reduce((sum, line) => sum + (JSON.parse(line) as { duplicates: number }).duplicates, 0),
      rescheduledByReconciler: (await db.pool.query<{ n: number }>('SELECT coalesce(sum(rescheduled), 0)::int AS n FROM outbox_reconciler_run')).rows[0]!.n,
      exitedByThemselves,
      violations: verdict.violations,
    };
    mkdirSync('.chaos', { recursive: true });
    writeFileSync(`.chaos/run-${Date.now()}.json`, JSON.stringify(summary, null, 2));
    console.log(`chaos run: ${JSON.stringify(summary)}`);

    expect(exitedByThemselves, 'processes that exited by themselves').toEqual([]);
    // The offending lines themselves (with their error and stack), not the whole output cut short.
    for (const each of processes) {
      expect(
        each
          .output()
          .split('\n')
          .filter((line) => /unhandled promise rejection|uncaught exception/.test(line)),
        `${each.name}: unhandled rejections or uncaught exceptions`,
      ).toEqual([]);
    }
    expect(faults).toHaveLength(13);
    expect(verdict.stats.committed).toBeGreaterThan(200);
    expect(verdict.stats.poison).toBeGreaterThan(0);
    expect(verdict.stats.unroutable).toBeGreaterThan(0);
    expect(verdict.violations, verdict.violations.join('\n')).toEqual([]);
  }, 420_000);
});
