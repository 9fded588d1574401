import pg from 'pg';
const c = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' }); await c.connect();
let max = 0; const end = Date.now() + 25000;
while (Date.now() < end) {
  const r = await c.query("select application_name, state, left(query,80) q, count(*)::int n from pg_stat_activity where backend_type='client backend' group by 1,2,3 order by 4 desc limit 3");
  const total = r.rows.reduce((a, x) => a + x.n, 0);
  if (r.rows[0] && r.rows[0].n > max) { max = r.rows[0].n; console.log(JSON.stringify(r.rows)); }
  await new Promise((res) => setTimeout(res, 50));
}
await c.end();
