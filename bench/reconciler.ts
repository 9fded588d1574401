// npm run bench:reconciler [-- --completed 1000000 --undone 1000]
//
// An outbox of `completed` published messages whose consumer is done with them,
// followed by `undone` it never finished. Run 1 starts from watermark 0 (the
// first run ever: it walks the whole table once); run 2 is the hourly run after
// that (the queue lost again, their re-schedule back-off over): it starts at the
// watermark, so it looks at the undone rows only.
// Its own database and RabbitMQ vhost, deleted at the end.
// Last line (run 2): reconcile ms=<n> scanned=<rows> rescheduled=<n>
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import { pino } from 'pino';
import { z } from 'zod';
import { createReconciler, defineConsumer, defineEvent } from '../src/index.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { createBenchVhost } from './support/benchVhost.js';

const { values } = parseArgs({ options: { completed: { type: 'string', default: '1000000' }, undone: { type: 'string', default: '1000' } } });
const completed = Number(values.completed);
const undone = Number(values.undone);
const CONSUMER = 'bench-reconciled';

const vhost = await createBenchVhost('outbox-bench-reconciler');
const amqpUrl = vhost.url;
const database = await createBenchDatabase('outbox_bench_reconciler');
const pool = new pg.Pool({ connectionString: database.url, max: 2 });
pool.on('error', () => {});

let started = performance.now();
await pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '1 day')", [CONSUMER]);
await pool.query(
  `INSERT INTO outbox_message (id, event_type, payload, status, published_at, created_at, available_at)
   SELECT gen_random_uuid(), 'bench.happened', jsonb_build_object('n', n), 'published',
          now() - interval '2 hours', now() - interval '3 hours' + n * interval '1 millisecond', now() - interval '3 hours'
     FROM generate_series(1, $1::int + $2::int) AS n`,
  [completed, undone],
);
await pool.query(
  `INSERT INTO outbox_inbox (consumer, message_id, status, attempts, done_at)
   SELECT $1, id, 'done', 1, now() FROM outbox_message WHERE seq <= (SELECT min(seq) - 1 + $2::int FROM outbox_message)`,
  [CONSUMER, completed],
);
await pool.query('VACUUM ANALYZE outbox_message');
await pool.query('VACUUM ANALYZE outbox_inbox');
console.log(`seeded ${completed} completed + ${undone} undone messages in ${((performance.now() - started) / 1000).toFixed(1)} s`);

const event = defineEvent('bench.happened', z.object({ n: z.number() }));
const consumer = defineConsumer({ name: CONSUMER, events: ['bench.happened'], async handle() {} });
async function run(label: string) {
  const reconciler = createReconciler({
    databaseUrl: database.url,
    amqpUrl,
    events: [event],
    consumers: [consumer],
    graceMs: 60_000,
    maxReschedulesPerRun: undone * 10,
    maxRescheduleRate: 0,
    logger: pino({ level: 'silent' }),
  });
  started = performance.now();
  const report = await reconciler.runOnce();
  const ms = performance.now() - started;
  await reconciler.stop();
  console.log(`${label}: ${ms.toFixed(0)} ms, scanned ${report.scanned} rows, re-scheduled ${report.rescheduled}`);
  return { ms, report };
}

const first = await run('run 1 (watermark 0: the first run ever)');
// The next hourly run, as if the queue had been lost again meanwhile (a queue still holding
// the re-published messages is not re-filled) and their re-schedule back-off were over.
const connection = await amqp.connect(amqpUrl);
const channel = await connection.createChannel();
await channel.purgeQueue(CONSUMER);
await connection.close();
await pool.query("UPDATE outbox_reschedule SET next_at = now() - interval '1 second'");
const second = await run('run 2 (the hourly run after it)');

await vhost.delete();
await pool.end();
await database.drop();
if (first.report.rescheduled !== undone || second.report.rescheduled !== undone) throw new Error('expected every undone message re-scheduled in each run');
console.log(`reconcile ms=${second.ms.toFixed(0)} scanned=${second.report.scanned} rescheduled=${second.report.rescheduled}`);
