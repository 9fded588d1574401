// Scratch: claim cost on a partitioned outbox (40 days) vs plain, same rows.
import pg from 'pg';
import { claimStatement, configureBatchTransaction } from '../src/relay/claimBatch.js';
import { createPgSqlStore } from '../src/database/sqlStore.js';
import { enablePartitioning } from '../src/operations/enablePartitioning.js';
const admin = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' });
await admin.connect();
const V7 = `(lpad(to_hex((extract(epoch from ts)*1000)::bigint), 12, '0') || '7' || substr(md5(random()::text),1,3) || '8' || substr(md5(random()::text),1,15))::uuid`;
const DAYS = Number(process.argv[2] ?? 40), PER_DAY = Number(process.argv[3] ?? 20000);
async function build(name: string, partitioned: boolean) {
  await admin.query(`DROP DATABASE IF EXISTS ${name}`); await admin.query(`CREATE DATABASE ${name} TEMPLATE outbox_test_template`);
  const url = `postgresql://postgres@127.0.0.1:5432/${name}`;
  const store = createPgSqlStore(url, { maxConnections: 2, queryTimeoutMs: 600_000 });
  if (partitioned) {
    await enablePartitioning(store, { aheadDays: 3, lockTimeoutMs: 2000, now: Date.now() - DAYS * 86400000 });
    const { createPartitionsAhead } = await import('../src/operations/maintainPartitions.js');
    await createPartitionsAhead(store, { aheadDays: DAYS + 3, now: Date.now() - DAYS * 86400000 });
  }
  const c = new pg.Client({ connectionString: url }); await c.connect();
  await c.query(`INSERT INTO outbox_message (id, event_type, ordering_key, payload, status, published_at, created_at)
    SELECT ${V7.replace(/ts/g, "now() - d * interval '1 day' + (n::float8 / $2) * interval '1 day'")}, 'a.b', CASE WHEN n % 3 = 0 THEN 'k' || (n % 1000) END, '{"x":1}', 'published', now(), now()
      FROM generate_series(1, $1) d, generate_series(1, $2) n`, [DAYS - 1, PER_DAY]);
  await c.query(`INSERT INTO outbox_message (id, event_type, ordering_key, payload)
    SELECT ${V7.replace(/ts/g, "now() - interval '1 hour' + n * interval '1 ms'")}, 'a.b', CASE WHEN n % 3 = 0 THEN 'k' || (n % 1000) END, '{"x":1}' FROM generate_series(1, 20000) n`);
  await c.query('VACUUM ANALYZE');
  await store.close();
  return c;
}
async function time(c: pg.Client, partitioned: boolean, label: string) {
  const runs = 15; const times: number[] = []; let rows = 0;
  for (let i = 0; i < runs; i++) {
    await c.query('BEGIN');
    const q = (s: any) => c.query(s.text, s.values).then((r) => r.rows);
    await configureBatchTransaction(q as any, 60000);
    const st = claimStatement(500, 501, { partitioned });
    const t0 = performance.now(); const r = await c.query(st.text, st.values); times.push(performance.now() - t0); rows = r.rowCount ?? 0;
    await c.query('ROLLBACK');
  }
  times.sort((a, b) => a - b);
  console.log(`${label}: median ${times[runs >> 1]!.toFixed(1)} ms, rows ${rows}`);
}
const plain = await build('claim_plain', false);
const part = await build('claim_part', true);
for (let round = 0; round < 2; round++) {
  await time(plain, false, 'plain table');
  await time(part, false, 'partitioned, unbounded claim');
  await time(part, true, 'partitioned, bounded claim');
}
await plain.end(); await part.end();

await admin.end();
