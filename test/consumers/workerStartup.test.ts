// A worker starting while its database or broker is briefly away (a PostgreSQL
// restart, a connection reset during the topology declaration) waits it out with
// backoff and starts; a mistake that will not fix itself still fails at once.
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWorker, defineConsumer, type Worker } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.js';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { publishRaw } from '../support/publishRaw.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const running: CliProcess[] = [];
const workers: Worker[] = [];

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('worker-startup')]);
});
afterEach(async () => {
  for (const cli of running.splice(0)) {
    cli.child.kill('SIGKILL');
    await cli.exited;
  }
  await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  await db.pool.query('DROP TRIGGER IF EXISTS fail_registration ON outbox_consumer');
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

/**
 * A statement trigger on the consumer registry that fails the first `times`
 * registrations with `failure` (PL/pgSQL): a fault injected in the database, not a
 * switch in the library. The sequence counts outside the transaction that fails.
 */
async function failRegistrations(times: number, failure: string): Promise<void> {
  await db.pool.query(`
    DROP SEQUENCE IF EXISTS registration_failures;
    CREATE SEQUENCE registration_failures;
    CREATE OR REPLACE FUNCTION fail_registration() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF nextval('registration_failures') <= ${times} THEN ${failure}; END IF;
      RETURN NULL;
    END $$;
    DROP TRIGGER IF EXISTS fail_registration ON outbox_consumer;
    CREATE TRIGGER fail_registration BEFORE INSERT ON outbox_consumer FOR EACH STATEMENT EXECUTE FUNCTION fail_registration();`);
}

function workerProcess(consumer: string): CliProcess {
  const cli = startOutboxCli(['worker', '--config', 'test/fixtures/worker.config.ts'], { DATABASE_URL: db.url, AMQP_URL: broker.url, CONSUMER_NAME: consumer });
  running.push(cli);
  return cli;
}

const lines = (output: string, message: string) => output.split('\n').filter((line) => line.includes(`"msg":"${message}`));

describe('a worker starting', () => {
  it(
    'while PostgreSQL restarts (57P01 at consumer registration, three times): retries with backoff, one log line, then starts and works',
    { timeout: 60_000 },
    async () => {
      // Each registration's connection is terminated by the server, as in a restart.
      await failRegistrations(3, 'PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(1)');
      const cli = workerProcess('startup-restart');
      await eventually(() => cli.output().includes('"consuming"') || cli.child.exitCode !== null, 30_000, 'the worker to start');
      expect(cli.child.exitCode, cli.output()).toBeNull();
      expect(lines(cli.output(), 'database unavailable at start')).toHaveLength(1);
      expect(lines(cli.output(), 'database available; starting')).toHaveLength(1);
      expect((await db.pool.query("SELECT 1 FROM outbox_consumer WHERE name = 'startup-restart'")).rowCount).toBe(1);

      const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'after the restart' });
      await eventually(
        async () => (await db.pool.query('SELECT 1 FROM demo_signup_log WHERE message_id = $1', [messageId])).rowCount === 1,
        10_000,
        'the message handled',
      );
      expect(cli.output()).not.toMatch(/unhandled promise rejection|uncaught exception/);
    },
  );

  it(
    'refused by the database for a reason that will not fix itself (42501 at registration): exits 1 at once with it, no retry loop',
    { timeout: 60_000 },
    async () => {
      await failRegistrations(1_000, "RAISE EXCEPTION 'permission denied for table outbox_consumer' USING ERRCODE = '42501'");
      const cli = workerProcess('startup-refused');
      const exit = await cli.exited;
      expect(exit.code, cli.output()).toBe(1);
      expect(cli.stderr()).toContain('permission denied for table outbox_consumer');
      expect(lines(cli.output(), 'database unavailable at start')).toHaveLength(0);
      expect(Number((await db.pool.query<{ n: string }>('SELECT last_value AS n FROM registration_failures')).rows[0]!.n)).toBe(1);
    },
  );

  it('while its broker connections are reset during the topology declaration: retries, then starts and works', { timeout: 60_000 }, async () => {
    const proxy: FaultProxy = await startFaultProxy({ host: '127.0.0.1', port: 5672 });
    try {
      const name = 'startup-broker-resets';
      const worker = createWorker({
        prisma: db.prisma,
        amqpUrl: proxy.url(broker.url),
        events: testEvents,
        logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
        consumers: [
          defineConsumer<typeof testEvents, Tx>({
            name,
            events: ['test.anything'],
            async handle({ tx, messageId }) {
              await tx.signupLog.create({ data: { userId: '00000000-0000-4000-8000-000000000000', messageId } });
            },
          }),
        ],
      });
      workers.push(worker);
      // Every connection that gets through is reset a few milliseconds later, for 1.5 s:
      // some die in the AMQP handshake, some while the queues are being declared.
      let resets = 0;
      const resetting = setInterval(() => {
        if (proxy.openConnections() > 0) {
          resets += 1;
          proxy.reset();
        }
      }, 15);
      setTimeout(() => clearInterval(resetting), 1_500);
      await worker.start();
      clearInterval(resetting);
      expect(resets).toBeGreaterThan(0);

      const messageId = publishRaw(broker.channel, { type: 'test.anything', payload: 'after the resets' });
      await eventually(
        async () => (await db.pool.query('SELECT 1 FROM demo_signup_log WHERE message_id = $1', [messageId])).rowCount === 1,
        20_000,
        'the message handled',
      );
    } finally {
      await Promise.all(workers.splice(0).map((worker) => worker.stop()));
      await proxy.close();
    }
  });
});
