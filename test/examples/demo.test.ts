// The README's first command runs this demo; it must pass its own checks.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
});
afterAll(() => db.drop());

describe('npm run demo', () => {
  it('writes orders and signups with their events, rolls back the declined one, and passes every check', async () => {
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'examples/demo/main.ts'], { env: { ...process.env, DATABASE_URL: db.url } }, (error, out) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout: out }),
      );
    });
    expect(stdout).not.toContain('FAIL');
    expect(stdout.match(/PASS/g)).toHaveLength(4);
    expect(code).toBe(0);
    const { rows } = await db.pool.query("SELECT event_type, count(*)::int AS count FROM outbox_message GROUP BY 1 ORDER BY 1");
    expect(rows).toEqual([
      { event_type: 'order.placed', count: 3 },
      { event_type: 'user.signed-up', count: 3 },
    ]);
  });
});
