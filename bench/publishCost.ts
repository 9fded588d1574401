// npm run bench:publish-cost [-- --transactions 4000 --concurrency 16 --rounds 3]
//
// What `publish` adds to a business transaction. A typical "place order" transaction
// (read the user, insert the order with its lines, reserve stock on three SKUs) runs
// without any event (the baseline), with one `publish`, and with `publishMany` of 10,
// in alternating rounds in one process: commits/s at `concurrency` writers, and the
// latency of one writer alone (what an endpoint feels). Target: <= 10% added.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { z } from 'zod';
import { PrismaClient, type Prisma } from '../generated/prisma/client.js';
import { createOutbox, defineEvent } from '../src/index.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { closedLoopRate } from './support/closedLoop.js';

const { values } = parseArgs({
  options: {
    transactions: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '16' },
    'latency-transactions': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
  },
});
const transactions = Number(values.transactions);
const concurrency = Number(values.concurrency);
const latencyTransactions = Number(values['latency-transactions']);
const rounds = Number(values.rounds);

const SKUS = 1_000;
const USERS = 1_000;

const orderPlaced = defineEvent('order.placed', z.object({ orderId: z.string().uuid(), userId: z.string().uuid(), totalCents: z.number().int() }));
const stockReserved = defineEvent('stock.reserved', z.object({ orderId: z.string().uuid(), sku: z.string(), quantity: z.number().int() }));
const outbox = createOutbox({ events: [orderPlaced, stockReserved] });

type Variant = 'none' | 'one' | 'many10';
const VARIANTS: Variant[] = ['none', 'one', 'many10'];

const database = await createBenchDatabase('outbox_bench_publish_cost');
const pool = new pg.Pool({ connectionString: database.url, max: concurrency });
// The benchmark database is dropped WITH (FORCE) at the end; a connection reporting that is expected.
pool.on('error', () => {});
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });

const userIds = Array.from({ length: USERS }, () => randomUUID());
await prisma.user.createMany({ data: userIds.map((id, index) => ({ id, email: `user${index}@example.com`, name: `User ${index}` })) });
await prisma.inventoryItem.createMany({ data: Array.from({ length: SKUS }, (_, index) => ({ sku: `sku-${index}`, available: 1_000_000_000 })) });

const pick = <T>(list: readonly T[]) => list[Math.floor(Math.random() * list.length)]!;

/** The business transaction; `variant` says which events it writes beside its rows. */
async function placeOrder(variant: Variant): Promise<void> {
  const userId = pick(userIds);
  const lines = Array.from({ length: 3 }, () => ({
    sku: `sku-${Math.floor(Math.random() * SKUS)}`,
    quantity: 1 + Math.floor(Math.random() * 3),
    priceCents: 1999,
  }));
  const totalCents = lines.reduce((sum, line) => sum + line.quantity * line.priceCents, 0);
  await prisma.$transaction(async (tx: Prisma.TransactionClient) => {
    await tx.user.findUniqueOrThrow({ where: { id: userId }, select: { id: true } });
    const order = await tx.order.create({ data: { userId, lines, totalCents }, select: { id: true } });
    // In SKU order, as an app must, or two orders sharing SKUs deadlock.
    for (const line of [...lines].sort((a, b) => a.sku.localeCompare(b.sku)))
      await tx.inventoryItem.update({ where: { sku: line.sku }, data: { available: { decrement: line.quantity } } });
    if (variant === 'one') await outbox.publish(tx, orderPlaced, { orderId: order.id, userId, totalCents }, { key: order.id });
    if (variant === 'many10') {
      await outbox.publishMany(tx, [
        { event: orderPlaced, payload: { orderId: order.id, userId, totalCents }, key: order.id },
        ...Array.from({ length: 9 }, (_, index) => ({
          event: stockReserved,
          payload: { orderId: order.id, sku: lines[index % 3]!.sku, quantity: 1 },
          key: order.id,
        })),
      ]);
    }
  });
}

async function throughput(variant: Variant): Promise<number> {
  return closedLoopRate(transactions, concurrency, () => placeOrder(variant));
}

/** One writer alone: the median and p99 of a transaction's duration, in ms. */
async function latency(variant: Variant): Promise<{ p50: number; p99: number }> {
  const durations: number[] = [];
  for (let index = 0; index < latencyTransactions; index += 1) {
    const started = performance.now();
    await placeOrder(variant);
    durations.push(performance.now() - started);
  }
  durations.sort((a, b) => a - b);
  return { p50: durations[Math.floor(durations.length * 0.5)]!, p99: durations[Math.floor(durations.length * 0.99)]! };
}

const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const rates: Record<Variant, number[]> = { none: [], one: [], many10: [] };
const p50s: Record<Variant, number[]> = { none: [], one: [], many10: [] };
const p99s: Record<Variant, number[]> = { none: [], one: [], many10: [] };

for (const variant of VARIANTS) await throughput(variant); // warm-up
for (let round = 0; round < rounds; round += 1) {
  // A different order each round, so no variant always runs on the most bloated tables.
  const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
  for (const variant of order) {
    rates[variant].push(await throughput(variant));
    const { p50, p99 } = await latency(variant);
    p50s[variant].push(p50);
    p99s[variant].push(p99);
  }
  // The outbox and order tables grow in every variant alike; the outbox rows alone would favour `none`.
  await pool.query('TRUNCATE outbox_message, demo_order');
  await pool.query('VACUUM ANALYZE outbox_message, demo_order, demo_inventory_item');
}
await prisma.$disconnect();
await pool.end();
await database.drop();

console.log(`transactions=${transactions} concurrency=${concurrency} latency-transactions=${latencyTransactions} rounds=${rounds}`);
const rate = (variant: Variant) => median(rates[variant]);
const p50 = (variant: Variant) => median(p50s[variant]);
const p99 = (variant: Variant) => median(p99s[variant]);
for (const variant of VARIANTS) {
  console.log(
    `${variant.padEnd(6)} commits/s=${rate(variant).toFixed(0)} (rounds: ${rates[variant].map((value) => value.toFixed(0)).join(', ')})` +
      `  one writer p50=${p50(variant).toFixed(2)} ms p99=${p99(variant).toFixed(2)} ms`,
  );
}
// Added cost: how much longer a transaction takes with the events, by throughput and by one writer's median.
const added = (variant: Variant) => ({ throughput: rate('none') / rate(variant) - 1, latency: p50(variant) / p50('none') - 1 });
const percent = (value: number) => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`;
const one = added('one');
const many = added('many10');
console.log(
  `publish cost one=${percent(one.throughput)} many10=${percent(many.throughput)} (throughput at ${concurrency} writers)` +
    ` latency one=${percent(one.latency)} many10=${percent(many.latency)} (one writer, p50)`,
);
