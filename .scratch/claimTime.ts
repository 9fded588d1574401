import pg from 'pg';
import { claimBatch, configureBatchTransaction } from '../src/relay/claimBatch.js';
const c = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/' + process.argv[2] }); await c.connect();
const q = ((s: any) => c.query(s.text, s.values).then((r) => r.rows)) as any;
for (const partitioned of process.argv[2] === 'claim_plain' ? [false] : [false, true]) {
  const runs = 15; const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await c.query('BEGIN');
    await configureBatchTransaction(q, 60000);
    const t0 = performance.now(); const r = await claimBatch(q, 500, { next: 501, record() {} } as any, { partitioned }); times.push(performance.now() - t0);
    if (r.length !== 500) throw new Error('rows ' + r.length);
    await c.query('ROLLBACK');
  }
  times.sort((a, b) => a - b);
  console.log(process.argv[2], partitioned ? 'bounded' : 'unbounded', `median ${times[runs >> 1]!.toFixed(1)} ms`);
}
await c.end();
