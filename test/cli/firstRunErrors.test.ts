// What a new user meets on a first run, each as a typed error that says what to do:
// never "unexpected error" with a stack, never a password, exit code 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, dropDatabase, scratchDatabaseName } from '../support/adminDatabase.js';
import { databaseUrl } from '../support/databaseUrls.js';
import { runOutboxCli, type CliResult } from '../support/runOutboxCli.js';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const CONFIG = 'test/fixtures/worker.config.ts';
const SECRET = 'FirstRun5ecret';
let db: TestDatabase;
let broker: TestBroker;
const emptyDatabase = scratchDatabaseName('first_run_empty');

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('first-run')]);
  await adminQuery(`CREATE DATABASE ${emptyDatabase}`);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
  await dropDatabase(emptyDatabase);
});

/** A URL with a password the output must never show (PostgreSQL here trusts local logins, so any password passes). */
const withSecret = (url: string) => url.replace('postgres@', `postgres:${SECRET}@`);
const missingDatabase = () => withSecret(databaseUrl('outbox_first_run_missing'));

function expectTyped(result: CliResult, code: string, advice: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`^outbox \\S+: ${code}: `, 'm'));
  expect(result.stderr).toMatch(advice);
  expect(result.stderr).not.toContain('unexpected error');
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stdout + result.stderr).not.toContain(SECRET);
}

describe('first-run errors', () => {
  it('relay: the database does not exist', async () => {
    const result = await runOutboxCli(['relay'], { DATABASE_URL: missingDatabase(), AMQP_URL: broker.url });
    expectTyped(result, 'OUTBOX_DATABASE_NOT_FOUND', /outbox_first_run_missing.*npx outbox migrate/);
  });

  it('relay: the outbox tables are missing', async () => {
    const result = await runOutboxCli(['relay'], { DATABASE_URL: withSecret(databaseUrl(emptyDatabase)), AMQP_URL: broker.url });
    expectTyped(result, 'OUTBOX_TABLES_MISSING', /npx outbox init.*npx outbox migrate/);
  });

  it('relay: PostgreSQL refuses the login', async () => {
    const result = await runOutboxCli(['relay'], { DATABASE_URL: db.url.replace('postgres@', `nobody:${SECRET}@`), AMQP_URL: broker.url });
    expectTyped(result, 'OUTBOX_DATABASE_LOGIN_REFUSED', /user and password in DATABASE_URL/);
  });

  it("worker: the database of the config's Prisma client does not exist", async () => {
    const result = await runOutboxCli(['worker', '--config', CONFIG], { DATABASE_URL: missingDatabase(), AMQP_URL: broker.url });
    expectTyped(result, 'OUTBOX_DATABASE_NOT_FOUND', /npx outbox migrate/);
  });

  it('status: PostgreSQL does not answer', async () => {
    const result = await runOutboxCli(['status'], { DATABASE_URL: withSecret(databaseUrl('postgres')).replace(':5432', ':5439'), AMQP_URL: broker.url });
    expectTyped(result, 'OUTBOX_DATABASE_UNREACHABLE', /Is it running/);
  });

  it('dlq: RabbitMQ refuses the login', async () => {
    const url = new URL(broker.url);
    url.password = SECRET;
    const result = await runOutboxCli(['dlq', 'list', 'anything'], { DATABASE_URL: db.url, AMQP_URL: url.toString() });
    expectTyped(result, 'OUTBOX_BROKER_LOGIN_REFUSED', /user and password in AMQP_URL/);
  });

  it('worker and relay (--once too): RabbitMQ refuses the login or the virtual host, at once rather than in a retry loop', async () => {
    const refusedLogin = new URL(broker.url);
    refusedLogin.password = SECRET;
    const worker = await runOutboxCli(['worker', '--config', CONFIG], { DATABASE_URL: db.url, AMQP_URL: refusedLogin.toString() });
    expectTyped(worker, 'OUTBOX_BROKER_LOGIN_REFUSED', /user and password in AMQP_URL/);
    const once = await runOutboxCli(['relay', '--once'], { DATABASE_URL: db.url, AMQP_URL: refusedLogin.toString() });
    expectTyped(once, 'OUTBOX_BROKER_LOGIN_REFUSED', /user and password in AMQP_URL/);

    const missingVhost = new URL(broker.url);
    missingVhost.pathname = '/no-such-vhost';
    const relay = await runOutboxCli(['relay'], { DATABASE_URL: db.url, AMQP_URL: missingVhost.toString() });
    expectTyped(relay, 'OUTBOX_BROKER_ACCESS_REFUSED', /does not exist, or this user has no permissions/);
  });

  it('setup: RabbitMQ does not answer', async () => {
    const url = new URL(broker.url);
    url.port = '5699';
    url.password = SECRET;
    const result = await runOutboxCli(['setup', '--config', CONFIG], { DATABASE_URL: db.url, AMQP_URL: url.toString() });
    expectTyped(result, 'OUTBOX_BROKER_UNREACHABLE', /5699.*Is it running/);
  });

  it('setup: the virtual host does not exist', async () => {
    const url = new URL(broker.url);
    url.pathname = '/no-such-vhost';
    const result = await runOutboxCli(['setup', '--config', CONFIG], { DATABASE_URL: db.url, AMQP_URL: url.toString() });
    expectTyped(result, 'OUTBOX_BROKER_ACCESS_REFUSED', /does not exist, or this user has no permissions/);
  });

  it('worker: a queue declared with other settings', async () => {
    await broker.channel.assertQueue('first-run-classic', { durable: true });
    const result = await runOutboxCli(['worker', '--config', CONFIG], { DATABASE_URL: db.url, AMQP_URL: broker.url, CONSUMER_NAME: 'first-run-classic' });
    expectTyped(result, 'OUTBOX_TOPOLOGY_CONFLICT', /inequivalent arg .* for queue 'first-run-classic'.*delete or rename it first$/m);
  });
});
