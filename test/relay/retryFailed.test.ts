import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { runOutboxCli } from '../support/runOutboxCli.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
});
afterAll(() => db.drop());

const outbox = (args: string[]) => runOutboxCli(args, { DATABASE_URL: db.url });

describe('outbox retry-failed', () => {
  it('returns one failed row, then all of them, to pending with a fresh attempt budget', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO outbox_message (id, event_type, payload, status, attempts, last_error, available_at)
       SELECT gen_random_uuid(), 'test.anything', '{}', s.status::outbox_message_status, 10, 'broker nack', now() + interval '1 hour'
         FROM (VALUES ('failed'), ('failed'), ('failed'), ('published')) AS s(status)
       RETURNING id::text`,
    );
    const [first] = rows;

    const one = await outbox(['retry-failed', '--id', first!.id]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain('returned 1 failed message(s) to pending');
    const after = await db.pool.query('SELECT status::text, attempts, available_at <= now() AS due FROM outbox_message WHERE id = $1', [first!.id]);
    expect(after.rows[0]).toEqual({ status: 'pending', attempts: 0, due: true });

    const all = await outbox(['retry-failed']);
    expect(all.stdout).toContain('returned 2 failed message(s) to pending');
    const counts = await db.pool.query('SELECT status::text, count(*)::int AS count FROM outbox_message GROUP BY 1 ORDER BY 1');
    expect(counts.rows).toEqual([
      { status: 'pending', count: 3 },
      { status: 'published', count: 1 },
    ]);
    const audit = await db.pool.query(
      "SELECT action, target, details->'messageIds' AS ids, details->'all' AS \"all\", details->'retried' AS retried FROM outbox_audit_log ORDER BY id",
    );
    expect(audit.rows).toEqual([
      { action: 'relay.retry-failed', target: 'relay', ids: [first!.id], all: null, retried: 1 },
      { action: 'relay.retry-failed', target: 'relay', ids: null, all: true, retried: 2 },
    ]);
  });

  it('refuses an id that is not a message id', async () => {
    const result = await outbox(['retry-failed', '--id', 'nope']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('OUTBOX_INVALID_OPTIONS');
  });
});
