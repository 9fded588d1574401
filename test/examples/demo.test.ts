// CONTRIBUTING.md's first command (npm run demo) runs this demo: with faults injected it must pass
// every check, and with the inbox broken on purpose its checks must fail.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const managementUrl = process.env.TEST_RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';

function runDemo(db: TestDatabase, broker: TestBroker, args: string[]) {
  return new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'examples/demo/main.ts', ...args],
      { env: { ...process.env, DATABASE_URL: db.url, AMQP_URL: broker.url, RABBITMQ_MANAGEMENT_URL: managementUrl }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: stdout + stderr }),
    );
  });
}

describe('npm run demo', () => {
  let db: TestDatabase;
  let broker: TestBroker;
  beforeAll(async () => {
    [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('demo')]);
  });
  afterAll(async () => {
    await broker.delete();
    await db.drop();
  });

  it('runs the shop under load with every fault injected, and passes every check', async () => {
    const { code, stdout } = await runDemo(db, broker, ['--signups', '20', '--orders', '40', '--rate', '25']);
    expect(stdout, stdout).toMatch(/All \d+ checks passed/);
    expect(stdout).not.toMatch(/\bFAIL\b/);
    expect(code).toBe(0);
    for (const fault of ['relay crash', 'broker connections closed', 'partner webhook down', 'worker crash', 'messages lost', 'duplicate deliveries']) {
      expect(stdout).toContain(`chaos: ${fault}: `);
    }
    expect(stdout).toContain('POST /inline/orders (brittle)');

    // Part of the verdict again, read here without the demo's checker (the
    // comparison's orders are in these tables too, and may still be in flight).
    const { rows } = await db.pool.query<{
      users: number;
      poison: number;
      dead: number;
      unpublished: number;
      logs: number;
      reservations: number;
      lines: number;
    }>(`
      SELECT (SELECT count(*)::int FROM demo_user) AS users,
             (SELECT count(*)::int FROM demo_order WHERE lines::text LIKE '%discontinued-lamp%') AS poison,
             (SELECT count(*)::int FROM outbox_inbox WHERE status = 'dead') AS dead,
             (SELECT count(*)::int FROM outbox_message WHERE status <> 'published') AS unpublished,
             (SELECT count(*)::int FROM demo_signup_log) AS logs,
             (SELECT count(*)::int FROM demo_inventory_reservation) AS reservations,
             (SELECT coalesce(sum(jsonb_array_length(lines)), 0)::int FROM demo_order WHERE lines::text NOT LIKE '%discontinued-lamp%') AS lines`);
    const facts = rows[0]!;
    expect(facts.poison).toBeGreaterThan(0);
    expect(facts.dead).toBe(facts.poison);
    expect(facts.logs).toBe(facts.users);
    expect(facts.reservations).toBeLessThanOrEqual(facts.lines);
    expect(facts.unpublished).toBe(0);
  }, 300_000);

  it('fails its checks when the inbox is broken on purpose (duplicate effects are caught)', async () => {
    const { code, stdout } = await runDemo(db, broker, ['--signups', '20', '--orders', '20', '--rate', '25', '--no-comparison', '--break-inbox']);
    expect(code, stdout).toBe(1);
    expect(stdout).toMatch(/signup logged exactly once\s+\d+\s+\d+\s+FAIL/);
    expect(stdout).toMatch(/stock reserved exactly once.*FAIL/);
    expect(stdout).toMatch(/\d+ of \d+ checks FAILED/);
  }, 300_000);
});
