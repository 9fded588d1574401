// RabbitMQ as a 3-node cluster with quorum queues: every process is given all
// three nodes in AMQP_URL; the node they all use is stopped during the load. No
// confirmed message may be lost and the pipeline must carry on, on the others.
//
// The reconciler runs too, every 2 s. Retries go through a TTL queue's at-least-once
// dead-lettering, and RabbitMQ can strand those messages in the retry queue when its
// leader changes (rabbitmq-server#16652: the queue's dead-letter worker gives up
// during leader churn; seen here in 3 of 14 runs, 43-55 side effects each, every
// queue's ready and unacked counts at 0). Re-doing what the broker stranded is the
// reconciler's job; the run reports how much it re-published.
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRabbitCluster, type RabbitCluster } from '../support/rabbitCluster.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { CHAOS_CONSUMERS, CHAOS_TABLES_SQL, ORDERED_CHAOS_CONSUMERS } from './chaosEvents.js';
import { declareTap, driveLoad, type ManagedProcess, managedProcess, sleep, TAP } from './harness.js';
import { judge, missingWork, readBrokerFacts, readDatabaseFacts, type Expectations } from './invariants.js';

let db: TestDatabase;
let cluster: RabbitCluster | undefined;
const processes: ManagedProcess[] = [];

beforeAll(async () => {
  [db, cluster] = await Promise.all([createTestDatabase(import.meta.url), startRabbitCluster()]);
  await db.pool.query(CHAOS_TABLES_SQL);
  const connection = await amqp.connect(cluster.urls[1]!);
  const channel = await connection.createChannel();
  await declareTap(channel);
  await connection.close();
}, 300_000);
afterAll(async () => {
  await Promise.all(processes.map((each) => each.kill('SIGKILL')));
  await cluster?.destroy();
  await db?.drop();
}, 120_000);

describe('a 3-node RabbitMQ cluster', () => {
  it('loses no confirmed message when the node in use stops during the load, and the pipeline carries on', async () => {
    const env = { DATABASE_URL: db.url, AMQP_URL: cluster!.urls.join(','), CHAOS_FAIL_RATE: '0.05' };
    const publishing = [
      managedProcess('relay-1', ['relay'], env, /relay started/),
      managedProcess('relay-2', ['relay'], env, /relay started/),
      managedProcess('worker', ['worker', '--config', 'test/chaos/chaos.config.ts'], env, /"consuming"/),
    ];
    const reconciler = managedProcess(
      'reconciler',
      ['reconcile', '--config', 'test/chaos/chaos.config.ts', '--schedule', '*/2 * * * * *', '--grace', '9s'],
      env,
      /reconciler scheduled/,
    );
    processes.push(...publishing, reconciler);
    await Promise.all(processes.map((each) => each.start()));
    // Every process that holds a connection starts on the first node listed (the reconciler connects only to re-publish).
    expect(publishing.every((each) => each.output().includes(':5681'))).toBe(true);

    const stop = new AbortController();
    const load = driveLoad(db.prisma, { writers: 4, keysPerWriter: 4, pauseMs: 30, signal: stop.signal });
    await sleep(5_000);
    await cluster!.stopNode('a');
    await sleep(8_000);
    stop.abort();
    const written = await load;

    const expectations: Expectations = {
      consumers: CHAOS_CONSUMERS,
      poisonRefusedBy: 'chaos-effect',
      rolledBack: written.rolledBack,
      orderedConsumers: ORDERED_CHAOS_CONSUMERS,
    };
    const loadEnded = Date.now();
    for (let until = Date.now() + 300_000; missingWork(await readDatabaseFacts(db.pool), expectations) > 0 && Date.now() < until;) await sleep(1_000);
    const settledAfterS = (Date.now() - loadEnded) / 1000;
    await sleep(2_000);
    await Promise.all(processes.map((each) => each.kill('SIGTERM')));

    if (missingWork(await readDatabaseFacts(db.pool), expectations) > 0) {
      // Where the missing work is: the inbox rows of the items not done, and the queues.
      const { rows } = await db.pool.query(
        `SELECT i.id::text AS item, inbox.consumer, inbox.status::text, inbox.attempts, inbox.last_error
           FROM chaos_item i JOIN outbox_message m ON m.payload->>'itemId' = i.id::text
           LEFT JOIN outbox_inbox inbox ON inbox.message_id = m.id AND inbox.consumer = 'chaos-effect'
          WHERE NOT i.poison AND NOT EXISTS (SELECT 1 FROM chaos_effect e WHERE e.item_id = i.id AND e.consumer = 'chaos-effect') LIMIT 10`,
      );
      console.log(`not done: ${JSON.stringify(rows)}`);
      console.log(await cluster!.listQueues('b'));
    }
    const verdict = judge(
      await readDatabaseFacts(db.pool),
      await readBrokerFacts(
        cluster!.urls[1]!,
        TAP,
        CHAOS_CONSUMERS.map((name) => `${name}.dlq`),
      ),
      expectations,
    );
    const rescheduledByReconciler = (await db.pool.query<{ n: number }>('SELECT coalesce(sum(rescheduled), 0)::int AS n FROM outbox_reconciler_run')).rows[0]!
      .n;
    console.log(`cluster failover run: ${JSON.stringify({ settledAfterS, rescheduledByReconciler, ...verdict.stats, violations: verdict.violations })}`);
    // They moved to another node and kept going.
    expect(publishing.every((each) => /broker connected.*:568[23]|:568[23].*broker connected/.test(each.output()))).toBe(true);
    expect(verdict.stats.committed).toBeGreaterThan(100);
    expect(verdict.violations, verdict.violations.join('\n')).toEqual([]);
  }, 480_000);
});
