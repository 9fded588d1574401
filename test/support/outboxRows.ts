// Load for relay tests: pending rows inserted straight in SQL (the write API is
// tested on its own), and counts read back the same way.
import type pg from 'pg';

/** `count` pending rows; every `keyEvery`-th has one of `keys` ordering keys. */
export async function seedPendingRows(pool: pg.Pool, count: number, { keyEvery = 3, keys = 50 } = {}): Promise<void> {
  await pool.query(
    `INSERT INTO outbox_message (id, event_type, ordering_key, payload)
     SELECT gen_random_uuid(), 'test.anything', CASE WHEN n % $2 = 0 THEN 'key-' || (n % $3) END, jsonb_build_object('n', n)
       FROM generate_series(1, $1) AS n`,
    [count, keyEvery, keys],
  );
}

export async function publishedCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ count: number }>("SELECT count(*)::int AS count FROM outbox_message WHERE status = 'published'");
  return rows[0]!.count;
}
