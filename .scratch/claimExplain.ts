import pg from 'pg';
import { claimStatement } from '../src/relay/claimBatch.js';
const c = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/' + process.argv[2] }); await c.connect();
await c.query('BEGIN'); await c.query("SET LOCAL enable_sort = off; SET LOCAL jit = off");
const st = claimStatement(500, 501, { partitioned: process.argv[3] === 'bounded' });
const r = await c.query('EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ' + st.text, st.values);
console.log(r.rows.map((x: any) => x['QUERY PLAN']).join('\n'));
await c.query('ROLLBACK'); await c.end();
