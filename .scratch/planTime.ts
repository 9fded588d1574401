import pg from 'pg';
import { claimStatement } from '../src/relay/claimBatch.js';
const c = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/' + process.argv[2] }); await c.connect();
for (const partitioned of [false, true]) {
  const st = claimStatement(500, 501, { partitioned });
  const times: number[] = [];
  for (let i = 0; i < 9; i++) {
    await c.query('BEGIN'); await c.query("SET LOCAL enable_sort = off; SET LOCAL jit = off");
    const r = await c.query('EXPLAIN (SUMMARY ON, COSTS OFF) ' + st.text, st.values);
    times.push(parseFloat(r.rows.at(-1)['QUERY PLAN'].replace(/[^0-9.]/g, '')));
    await c.query('ROLLBACK');
  }
  times.sort((a, b) => a - b);
  console.log(process.argv[2], partitioned ? 'bounded' : 'unbounded', 'planning median', times[4], 'ms');
}
await c.end();
