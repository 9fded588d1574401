// Passwords in DATABASE_URL and AMQP_URL never reach a log line or an error
// message: every command runs here with secret-bearing URLs, working and failing
// (refused login, unreachable host, missing database), and its whole output is
// searched for the secret.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxCli } from '../support/outboxCli.js';
import { createTestBroker, managementApi, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

// Characters URLs must escape, so both the raw and the encoded forms are looked for.
const SECRET = `S3cr3t@:/%-${randomBytes(6).toString('hex')}`;
const ENCODED = encodeURIComponent(SECRET);
const WRONG = `Wr0ng@:/%-${randomBytes(6).toString('hex')}`;
const secretForms = [SECRET, ENCODED, WRONG, encodeURIComponent(WRONG), SECRET.slice(11), WRONG.slice(10)];

let db: TestDatabase;
let broker: TestBroker;
let user: string;

function withPassword(url: string, username: string, password: string, change: (parsed: URL) => void = () => {}): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(username);
  parsed.password = encodeURIComponent(password);
  change(parsed);
  return parsed.toString();
}

/**
 * Runs a command until it exits, or until its output matches `until` (then a
 * moment more, and SIGTERM), at most `maxMs`; resolves with its whole output.
 */
async function run(
  args: string[],
  env: Record<string, string>,
  until: RegExp | (() => Promise<boolean>),
  maxMs = 45_000,
): Promise<{ output: string; code: number | null }> {
  const cli = startOutboxCli(args, { CONSUMER_NAME: 'secret-test', ...env });
  let exited = false;
  void cli.exited.then(() => (exited = true));
  const done = () => (until instanceof RegExp ? Promise.resolve(until.test(cli.output())) : until());
  for (const deadline = Date.now() + maxMs; !exited && !(await done()) && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 100));
  if (!exited) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    cli.child.kill('SIGTERM');
  }
  const force = setTimeout(() => cli.child.kill('SIGKILL'), 20_000);
  const { code } = await cli.exited;
  clearTimeout(force);
  return { output: cli.output(), code };
}

function expectNoSecret(output: string) {
  for (const form of secretForms) expect(output.includes(form), `output contains a password form "${form}":\n${output}`).toBe(false);
}

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('secrets')]);
  user = `outbox-secret-${randomBytes(3).toString('hex')}`;
  await managementApi('PUT', `/users/${encodeURIComponent(user)}`, { password: SECRET, tags: '' });
  await managementApi('PUT', `/permissions/${encodeURIComponent(broker.vhost)}/${encodeURIComponent(user)}`, { configure: '.*', write: '.*', read: '.*' });
});
afterAll(async () => {
  await managementApi('DELETE', `/users/${encodeURIComponent(user)}`).catch(() => {});
  await broker?.delete();
  await db?.drop();
});

describe('secrets in connection URLs', () => {
  it('a working relay logs its broker and database without the passwords', async () => {
    await db.pool.query("INSERT INTO outbox_message (id, event_type, payload) VALUES (gen_random_uuid(), 'test.anything', '1')");
    // pg_hba here trusts local connections, so the password travels in the URL unchecked: what matters is where it shows up.
    const published = async () => (await db.pool.query("SELECT 1 FROM outbox_message WHERE status = 'published'")).rowCount === 1;
    const { output } = await run(
      ['relay'],
      { DATABASE_URL: withPassword(db.url, 'postgres', SECRET), AMQP_URL: withPassword(broker.url, user, SECRET) },
      published,
    );
    expect(output).toContain('relay started');
    expect(output).toContain('***');
    expectNoSecret(output);
    const { rows } = await db.pool.query("SELECT count(*)::int AS published FROM outbox_message WHERE status = 'published'");
    expect(rows[0].published).toBe(1);
  }, 60_000);

  it('a refused broker login, an unreachable broker and a missing database: errors logged, passwords not', async () => {
    const goodDatabase = withPassword(db.url, 'postgres', SECRET);
    const outputs = await Promise.all([
      run(['relay'], { DATABASE_URL: goodDatabase, AMQP_URL: withPassword(broker.url, user, WRONG) }, /OUTBOX_BROKER_LOGIN_REFUSED/),
      run(['relay'], { DATABASE_URL: goodDatabase, AMQP_URL: withPassword(broker.url, user, SECRET, (url) => (url.port = '1')) }, /ECONNREFUSED/),
      run(
        ['relay'],
        {
          DATABASE_URL: withPassword(db.url, 'postgres', SECRET, (url) => (url.pathname = '/no_such_database')),
          AMQP_URL: withPassword(broker.url, user, SECRET),
        },
        /no_such_database/,
      ),
      run(
        ['worker', '--config', 'test/fixtures/worker.config.ts'],
        { DATABASE_URL: goodDatabase, AMQP_URL: withPassword(broker.url, user, WRONG) },
        /OUTBOX_BROKER_LOGIN_REFUSED/,
      ),
      run(['migrate'], { DATABASE_URL: withPassword(db.url, 'postgres', SECRET, (url) => (url.port = '1')) }, /(?!)/),
      run(['dlq', 'list', 'secret-test'], { DATABASE_URL: goodDatabase, AMQP_URL: withPassword(broker.url, user, WRONG, (url) => (url.port = '1')) }, /(?!)/),
      run(['status', '--config', 'test/fixtures/worker.config.ts'], { DATABASE_URL: goodDatabase, AMQP_URL: withPassword(broker.url, user, WRONG) }, /(?!)/),
    ]);
    const [refused, unreachable, missingDatabase, worker, migrate, dlq, status] = outputs;
    expect(refused.output).toMatch(/OUTBOX_BROKER_LOGIN_REFUSED/);
    expect(unreachable.output).toMatch(/ECONNREFUSED/);
    expect(missingDatabase.output).toMatch(/no_such_database/);
    expect(worker.output).toMatch(/OUTBOX_BROKER_LOGIN_REFUSED/);
    expect(migrate.code).not.toBe(0);
    expect(migrate.output).toContain('OUTBOX_MIGRATION_FAILED');
    expect(dlq.code).not.toBe(0);
    expect(status.output.length).toBeGreaterThan(0);
    for (const each of outputs) expectNoSecret(each.output);
  }, 120_000);
});
