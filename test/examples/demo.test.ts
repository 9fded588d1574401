// The README's first command runs this demo; it must pass its own checks.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('demo')]);
});
afterAll(async () => {
  await broker.delete();
  await db.drop();
});

describe('npm run demo', () => {
  it('writes orders and signups with their events, rolls back the declined one, relays them, and passes every check', async () => {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'examples/demo/main.ts'], { env: { ...process.env, DATABASE_URL: db.url, AMQP_URL: broker.url } }, (error, out) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: out }),
      );
    });
    expect(stdout).not.toContain('FAIL');
    expect(stdout.match(/PASS/g)).toHaveLength(6);
    expect(code).toBe(0);
    const { rows } = await db.pool.query("SELECT event_type, status::text, count(*)::int AS count FROM outbox_message GROUP BY 1, 2 ORDER BY 1");
    expect(rows).toEqual([
      { event_type: 'order.placed', status: 'published', count: 3 },
      { event_type: 'user.signed-up', status: 'published', count: 3 },
    ]);
  });
});
