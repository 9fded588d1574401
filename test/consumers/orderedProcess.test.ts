// Ordered consumers as processes: two workers, the one holding the partitions
// SIGKILLed mid-stream, then every connection of the vhost closed by the broker.
// Judged from the handlers' own table: each key's events in order, each once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createOutbox, createRelay, type Relay } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { rabbitmqctl } from '../support/rabbitmqctl.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
let relay: Relay | undefined;
const running: CliProcess[] = [];
const outbox = createOutbox({ events: testEvents });

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('ordered-process')]);
  await db.pool.query('CREATE TABLE ordered_effect (id bigserial PRIMARY KEY, ordering_key text NOT NULL, n int NOT NULL, pid int NOT NULL)');
});
afterAll(async () => {
  for (const cli of running) cli.child.kill('SIGKILL');
  await Promise.all(running.map((cli) => cli.exited));
  await relay?.stop();
  await broker?.delete();
  await db?.drop();
});

function worker(): CliProcess {
  const cli = startOutboxCli(['worker', '--config', 'test/fixtures/ordered.config.ts'], { DATABASE_URL: db.url, AMQP_URL: broker.url, LOG_LEVEL: 'warn' });
  running.push(cli);
  return cli;
}

const count = async () => (await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM ordered_effect')).rows[0]!.count;

describe('ordered consumer processes', () => {
  it('keep each key in order, exactly once, when the active worker is SIGKILLed and the broker closes every connection', { timeout: 150_000 }, async () => {
    const [first, second] = [worker(), worker()];
    // Both registered and consuming (the topology declared) before anything is written.
    await eventually(
      async () => (await rabbitmqctl('list_consumers', '-p', broker.vhost)).split('\n').filter((line) => line.includes('.p0')).length >= 8,
      30_000,
      'both workers consuming',
    );
    const keys = Array.from({ length: 200 }, (_, index) => `account-${index}`);
    const perKey = 15;
    for (let n = 0; n < perKey; n += 1) {
      await db.prisma.$transaction((tx) =>
        outbox.publishMany(
          tx,
          keys.map((key) => ({ event: 'test.anything' as const, payload: { key, n }, key })),
        ),
      );
    }
    relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger: pino({ level: 'silent' }), pollIntervalMs: 20 });
    void relay.start();

    await eventually(async () => (await count()) >= 600, 60_000, 'a fifth handled');
    // The worker that handled the latest effect holds partitions: kill it without warning.
    const { rows } = await db.pool.query<{ pid: number }>('SELECT pid FROM ordered_effect ORDER BY id DESC LIMIT 1');
    const victim = [first, second].find((cli) => cli.child.pid === rows[0]!.pid)!;
    expect(victim).toBeDefined();
    victim.child.kill('SIGKILL');
    await victim.exited;
    await eventually(async () => (await count()) >= 1800, 60_000, 'the other worker taking over');
    await rabbitmqctl('close_all_connections', '-p', broker.vhost, 'test: connections closed');
    await eventually(async () => (await count()) >= keys.length * perKey, 90_000, 'every event handled');
    await new Promise((resolve) => setTimeout(resolve, 500));

    const { rows: byKey } = await db.pool.query<{ key: string; ns: number[] }>(
      'SELECT ordering_key AS key, array_agg(n ORDER BY id) AS ns FROM ordered_effect GROUP BY ordering_key',
    );
    expect(byKey).toHaveLength(keys.length);
    for (const { key, ns } of byKey) expect(ns, key).toEqual([...Array(perKey).keys()]);
    const { rows: pids } = await db.pool.query<{ pid: number }>('SELECT DISTINCT pid FROM ordered_effect');
    // Both did part of the work: the survivor took over from the killed one.
    expect(pids.map((row) => row.pid).sort()).toEqual([first.child.pid, second.child.pid].sort());
  });
});
