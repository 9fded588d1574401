// `outbox status`, database side: with a config (what each consumer is owed, split
// at the reconciler's grace window so messages on their way are not "not done"),
// without one (the consumers registered in the database, owed counts unknown),
// exit codes 0 / 3 / 1 / 2, and --json alone on stdout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declareRelayTopology } from '../../src/broker/declareRelayTopology.js';
import { createTestBroker, eventually, managementApi, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { emptyFolder, runStatusCli, statusReport } from './statusCli.js';

const CONSUMER = 'status-db-consumer';
const CONFIG = 'test/fixtures/worker.config.ts';

let db: TestDatabase;
let broker: TestBroker;

const env = () => ({ DATABASE_URL: db.url, AMQP_URL: broker.url, CONSUMER_NAME: CONSUMER });

/** A published test.anything row created `age` ago; done: with a done inbox row for the consumer. */
async function published(age: string, inbox?: 'done' | 'dead' | 'processing'): Promise<void> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at)
     VALUES (gen_random_uuid(), 'test.anything', '{}', 'published', now(), now() - $1::interval) RETURNING id::text`,
    [age],
  );
  if (inbox) await db.pool.query('INSERT INTO outbox_inbox (consumer, message_id, status) VALUES ($1, $2, $3)', [CONSUMER, rows[0]!.id, inbox]);
}

async function sampled(queue: string): Promise<void> {
  await eventually(
    async () => {
      const response = await managementApi('GET', `/queues/${encodeURIComponent(broker.vhost)}/${encodeURIComponent(queue)}?columns=messages`);
      return response.ok && typeof ((await response.json()) as { messages?: number }).messages === 'number';
    },
    30_000,
    `${queue} sampled`,
  );
}

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('status-db')]);
  await db.pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '2 hours')", [CONSUMER]);
  await db.pool.query("INSERT INTO outbox_reconciler_run (started_at, finished_at, status, scanned) VALUES (now() - interval '1 minute', now(), 'done', 3)");
  await declareRelayTopology(broker.channel, { exchange: 'outbox.events', unroutable: 'outbox.unroutable' });
  await broker.channel.assertQueue(CONSUMER, { durable: true });
  await broker.channel.assertQueue(`${CONSUMER}.dlq`, { durable: true });
  await Promise.all([sampled(CONSUMER), sampled(`${CONSUMER}.dlq`), sampled('outbox.unroutable')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

describe('outbox status: the database', () => {
  it('does not count messages still within the grace window as not done: a pipeline under load exits 0', async () => {
    // Done long ago, dead long ago, and two on their way right now (one being handled).
    await published('40 minutes', 'done');
    await published('40 minutes', 'dead');
    await published('1 minute');
    await published('10 seconds', 'processing');

    const [json, human] = await Promise.all([statusReport(['--config', CONFIG], env()), runStatusCli(['--config', CONFIG], env())]);
    expect(json.report.consumersFrom).toBe('config');
    expect(json.report.graceMs).toBe(15 * 60_000);
    expect(json.report.consumers).toEqual([
      {
        consumer: CONSUMER,
        registeredAt: expect.any(String),
        notDone: 0,
        inFlight: 2,
        dead: 1,
        parkedKeys: 0,
        oldestParkedAgeMs: null,
        queueDepth: 0,
        retryDepth: 0,
        dlqDepth: 0,
      },
    ]);
    expect(json.report.reconciler).toMatchObject({ overdue: false, lastRun: { status: 'done', scanned: 3 } });
    expect(json.report.alerts).toEqual([]);
    expect(json.code, json.stderr).toBe(0);

    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`${CONSUMER} +\\S+ +0 +2 +1 +0 +0 +0`));
    expect(human.stdout).toContain('no alerts');
    // The report is on stdout; stderr carries no part of it.
    expect(human.stderr).not.toContain(CONSUMER);
  }, 60_000);

  it('counts what is owed past the grace window as not done, alerts, and exits 3; --grace moves the window', async () => {
    await published('30 minutes');
    const [defaultGrace, shortGrace] = await Promise.all([
      statusReport(['--config', CONFIG], env()),
      statusReport(['--config', CONFIG, '--grace', '30s'], env()),
    ]);
    expect(defaultGrace.report.consumers[0]).toMatchObject({ notDone: 1, inFlight: 2 });
    expect(defaultGrace.report.alerts).toEqual([expect.stringMatching(new RegExp(`consumer ${CONSUMER}: 1 message\\(s\\) owed and not done for over 15 min`))]);
    expect(defaultGrace.code).toBe(3);
    // 30 s of grace: the 1-minute-old message is late too; the 10-second-old one is still on its way.
    expect(shortGrace.report.consumers[0]).toMatchObject({ notDone: 2, inFlight: 1 });
  }, 60_000);

  it('works without a config file: the consumers registered in the database, owed counts unknown and said so', async () => {
    const folder = emptyFolder();
    const [json, human] = await Promise.all([
      statusReport([], { DATABASE_URL: db.url, AMQP_URL: broker.url }, folder),
      runStatusCli([], { DATABASE_URL: db.url, AMQP_URL: broker.url }, folder),
    ]);
    expect(json.report.consumersFrom).toBe('database');
    expect(json.report.consumers).toEqual([
      {
        consumer: CONSUMER,
        registeredAt: expect.any(String),
        notDone: null,
        inFlight: null,
        dead: 1,
        parkedKeys: 0,
        oldestParkedAgeMs: null,
        queueDepth: 0,
        retryDepth: 0,
        dlqDepth: 0,
      },
    ]);
    expect(json.report.notes.join('\n')).toMatch(/--config <file> gives those counts/);
    // Nothing it can see is wrong, and it does not guess the rest.
    expect(json.report.alerts).toEqual([]);
    expect(json.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`${CONSUMER} +\\S+ +\\? +\\? +1 +0 +0 +0`));
    expect(human.stdout).toContain('--config <file> gives those counts');
  }, 60_000);

  it('exits 1 on an error (a --config that is not there, no DATABASE_URL without a config) and 2 on bad usage, with nothing on stdout', async () => {
    const folder = emptyFolder();
    const [missingConfig, noDatabase, badOption] = await Promise.all([
      runStatusCli(['--config', 'no/such/outbox.config.ts', '--json'], env()),
      runStatusCli(['--json'], { AMQP_URL: broker.url }, folder),
      runStatusCli(['--no-such-option'], env(), folder),
    ]);
    expect(missingConfig.code).toBe(1);
    expect(missingConfig.stderr).toContain('OUTBOX_CONFIG_NOT_FOUND');
    expect(noDatabase.code).toBe(1);
    expect(noDatabase.stderr).toMatch(/OUTBOX_INVALID_CONFIG: DATABASE_URL is not set/);
    expect(badOption.code).toBe(2);
    for (const run of [missingConfig, noDatabase]) expect(run.stdout).toBe('');
  }, 60_000);
});
