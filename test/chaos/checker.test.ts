// The invariant checker's self-test: on a clean run it finds nothing; with each
// guarantee broken on purpose (in the database or in what the broker holds) it
// names the broken one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { CHAOS_CONSUMERS, CHAOS_TABLES_SQL, ORDERED_CHAOS_CONSUMERS } from './chaosEvents.js';
import { declareTap, driveLoad, type ManagedProcess, managedProcess, sleep, TAP } from './harness.js';
import { judge, missingWork, readBrokerFacts, readDatabaseFacts, type BrokerFacts, type Expectations } from './invariants.js';

let db: TestDatabase;
let broker: TestBroker;
const processes: ManagedProcess[] = [];

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('checker')]);
  await db.pool.query(CHAOS_TABLES_SQL);
  await declareTap(broker.channel);
});
afterAll(async () => {
  await Promise.all(processes.map((each) => each.kill('SIGKILL')));
  await broker?.delete();
  await db?.drop();
});

describe('the invariant checker', () => {
  it('passes a clean run, and reports every guarantee broken on purpose', async () => {
    const env = { DATABASE_URL: db.url, AMQP_URL: broker.url };
    processes.push(
      managedProcess('relay', ['relay'], env, /relay started/),
      managedProcess('worker', ['worker', '--config', 'test/chaos/chaos.config.ts'], env, /"consuming"/),
    );
    await Promise.all(processes.map((each) => each.start()));
    const stop = new AbortController();
    const load = driveLoad(db.prisma, { writers: 2, keysPerWriter: 3, pauseMs: 20, signal: stop.signal });
    await sleep(4_000);
    stop.abort();
    const written = await load;
    const expectations: Expectations = {
      consumers: CHAOS_CONSUMERS,
      poisonRefusedBy: 'chaos-effect',
      rolledBack: written.rolledBack,
      orderedConsumers: ORDERED_CHAOS_CONSUMERS,
    };
    for (let until = Date.now() + 60_000; missingWork(await readDatabaseFacts(db.pool), expectations) > 0 && Date.now() < until;) await sleep(500);
    await Promise.all(processes.map((each) => each.kill('SIGTERM')));

    const brokerFacts = await readBrokerFacts(
      broker.url,
      TAP,
      CHAOS_CONSUMERS.map((consumer) => `${consumer}.dlq`),
    );
    const clean = judge(await readDatabaseFacts(db.pool), brokerFacts, expectations);
    expect(clean.violations).toEqual([]);
    expect(clean.stats.committed).toBeGreaterThan(50);

    // Break the guarantees in the database: a duplicate effect, a lost one, an effect
    // for a rolled-back request, an event whose business row is gone, a dead letter
    // nobody made fail.
    const { rows: effects } = await db.pool.query<{ id: string; item_id: string }>(
      "SELECT e.id::text, e.item_id::text FROM chaos_effect e JOIN chaos_item i ON i.id = e.item_id WHERE e.consumer = 'chaos-effect' AND NOT i.poison ORDER BY e.id LIMIT 3",
    );
    await db.pool.query('INSERT INTO chaos_effect (consumer, message_id, item_id) SELECT consumer, message_id, item_id FROM chaos_effect WHERE id = $1', [
      effects[0]!.id,
    ]);
    await db.pool.query('DELETE FROM chaos_effect WHERE id = $1', [effects[1]!.id]);
    await db.pool.query("INSERT INTO chaos_effect (consumer, message_id, item_id) VALUES ('chaos-audit', gen_random_uuid(), $1)", [written.rolledBack[0]]);
    await db.pool.query('DELETE FROM chaos_effect WHERE item_id = $1', [effects[2]!.item_id]);
    await db.pool.query('DELETE FROM chaos_item WHERE id = $1', [effects[2]!.item_id]);
    // An ordered consumer's two effects of one key swapped in commit order.
    const { rows: pair } = await db.pool.query<{ first: string; second: string }>(`
      SELECT ids[1]::text AS first, ids[2]::text AS second FROM (
        SELECT array_agg(e.id ORDER BY e.id) AS ids FROM chaos_effect e JOIN chaos_item i ON i.id = e.item_id
         WHERE e.consumer = 'chaos-ordered' GROUP BY i.key HAVING count(*) > 1 LIMIT 1) keyed`);
    await db.pool.query('UPDATE chaos_effect SET id = -id WHERE id = $1', [pair[0]!.first]);
    await db.pool.query('UPDATE chaos_effect SET id = $1 WHERE id = $2', [pair[0]!.first, pair[0]!.second]);
    await db.pool.query('UPDATE chaos_effect SET id = $1 WHERE id = -$2::bigint', [pair[0]!.second, pair[0]!.first]);
    await db.pool.query(
      "UPDATE outbox_inbox SET status = 'dead' WHERE ctid = (SELECT ctid FROM outbox_inbox WHERE consumer = 'chaos-audit' AND status = 'done' LIMIT 1)",
    );
    // And in what the broker holds: two messages of one key swapped, one never
    // received, an unroutable event gone, a stray dead letter.
    const tap = [...brokerFacts.tap];
    const first = tap.findIndex((message, index) => tap.slice(index + 1).some((later) => later.key === message.key));
    const second = tap.findIndex((message, index) => index > first && message.key === tap[first]!.key);
    [tap[first], tap[second]] = [tap[second]!, tap[first]!];
    const broken: BrokerFacts = {
      tap: tap.slice(0, -1),
      deadLetters: new Map([...brokerFacts.deadLetters].map(([queue, ids]) => [queue, queue === 'chaos-audit.dlq' ? [...ids, tap[0]!.messageId] : ids])),
      unroutable: brokerFacts.unroutable.slice(1),
    };
    const verdict = judge(await readDatabaseFacts(db.pool), broken, expectations);
    const reported = verdict.violations.join('\n');
    for (const expected of [
      'side effects done more than once: 1',
      'side effects handled ahead of an earlier one of their key: 1',
      'side effects missing',
      'rolled-back items with a row, an event or an effect: 1',
      'events whose business row never committed: 1',
      'dead letters that were not made to fail: 1',
      'reached the broker ahead of an earlier one of their key',
      'events the broker never received',
      'chaos-audit.dlq: messages that should not be there: 1',
      'unroutable events lost: 1',
    ]) {
      expect(reported).toContain(expected);
    }
    expect(verdict.stats.duplicateEffects).toBe(1);
  }, 180_000);
});
