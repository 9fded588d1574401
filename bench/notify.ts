// npm run bench:notify [-- --transactions 3000 --concurrency 16]
//
// Does waking the relay with NOTIFY at commit cost the writers? PostgreSQL takes
// a database-wide lock when a notifying transaction commits, serialising commits.
// Runs the same write load with wakeRelay off (baseline) and on, alternating
// rounds in one process, and prints commits/s and the ratio.
import { parseArgs } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { z } from 'zod';
import { PrismaClient } from '../generated/prisma/client.js';
import { createOutbox, defineEvent } from '../src/index.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { closedLoopRate } from './support/closedLoop.js';

const { values } = parseArgs({
  options: {
    transactions: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
  },
});
const transactions = Number(values.transactions);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);

const database = await createBenchDatabase('outbox_bench_notify');
const databaseUrl = database.url;

const orderPlaced = defineEvent('order.placed', z.object({ orderId: z.string() }));
const quiet = createOutbox({ events: [orderPlaced] });
const notifying = createOutbox({ events: [orderPlaced], wakeRelay: true });

async function writeLoad(prisma: PrismaClient, outbox: typeof quiet): Promise<number> {
  return closedLoopRate(transactions, concurrency, (call) => prisma.$transaction((tx) => outbox.publish(tx, orderPlaced, { orderId: String(call) })));
}

const pool = new pg.Pool({ connectionString: databaseUrl, max: concurrency });
// The benchmark database is dropped WITH (FORCE) at the end; a connection reporting that is expected.
pool.on('error', () => {});
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
// A listener, as a relay would hold: notifications are queued for it.
const listener = new pg.Client({ connectionString: databaseUrl });
await listener.connect();
await listener.query('LISTEN outbox_message');
listener.on('notification', () => {});

const results = { off: [] as number[], on: [] as number[] };
await writeLoad(prisma, quiet); // warm-up
for (let round = 0; round < rounds; round += 1) {
  results.off.push(await writeLoad(prisma, quiet));
  results.on.push(await writeLoad(prisma, notifying));
  await pool.query('TRUNCATE outbox_message');
}
const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const off = median(results.off);
const on = median(results.on);
await listener.end();
await prisma.$disconnect();
await pool.end();
await database.drop();
console.log(`transactions=${transactions} concurrency=${concurrency} rounds=${rounds}`);
console.log(`wakeRelay=off commits/s=${off.toFixed(0)}  (rounds: ${results.off.map((value) => value.toFixed(0)).join(', ')})`);
console.log(`wakeRelay=on  commits/s=${on.toFixed(0)}  (rounds: ${results.on.map((value) => value.toFixed(0)).join(', ')})`);
console.log(`notify ratio=${(on / off).toFixed(2)} (on/off; 1.00 = free)`);
