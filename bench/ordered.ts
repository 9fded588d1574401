// npm run bench:ordered [-- --messages 20000 --keys 1000 --concurrency 8 --hot-messages 20000]
//
// 1. relay: 20,000 fresh rows (~200-byte varied payloads) over 64 keys, drained by the
//    relay (runOnce), against the same rows with a key each: what ordering costs the relay.
// 2. consumers: N events over K keys, already in the queues, drained by an ordered
//    consumer and by an unordered one with the same handler and the same concurrency;
//    the handler counts calls that see a key's event before an earlier one (violations).
// 3. hot key: N events on one key, end to end (relay and an ordered consumer running
//    together), from the first publish to the last handler commit.
// Last line: ordered/unordered ratio=<x> ordered=<msg/s> unordered=<msg/s> violations=<n>
import { parseArgs } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import amqp from 'amqplib';
import pg from 'pg';
import { pino } from 'pino';
import { z } from 'zod';
import { PrismaClient } from '../generated/prisma/client.js';
import { createOutbox, createRelay, createWorker, defineConsumer, defineEvent, type EventDefinition } from '../src/index.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { createBenchVhost } from './support/benchVhost.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    keys: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    'hot-messages': { type: 'string' },
    'relay-messages': { type: 'string', default: '20000' },
  },
});
const messages = Number(values.messages);
const keyCount = Number(values.keys);
const concurrency = Number(values.concurrency);
const hotMessages = Number(values['hot-messages'] ?? values.messages);
const relayMessages = Number(values['relay-messages']);

const database = await createBenchDatabase('outbox_bench_ordered');
const vhost = await createBenchVhost('outbox-bench-ordered');
const amqpUrl = vhost.url;
const pool = new pg.Pool({ connectionString: database.url, max: concurrency + 4 });
// The benchmark database is dropped WITH (FORCE) at the end; a connection reporting that is expected.
pool.on('error', () => {});
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
type Tx = Parameters<Parameters<typeof prisma.$transaction>[0]>[0];
const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' });
await pool.query('CREATE TABLE bench_effect (id bigserial PRIMARY KEY, consumer text NOT NULL, ordering_key text NOT NULL, n int NOT NULL)');

const step = z.object({ key: z.string(), n: z.number().int(), note: z.string() });
const relayed = defineEvent('bench.relayed', step);
const stepped = defineEvent('bench.stepped', step);
const hot = defineEvent('bench.hot', step);
const events = [relayed, stepped, hot] as const;
const outbox = createOutbox({ events });

/** ~200 bytes of JSON that differ from row to row, as real payloads do. */
const payloadFor = (key: string, n: number) => ({ key, n, note: `${key}:${n}:`.padEnd(150, String.fromCharCode(97 + (n % 26))) });

/** Writes `count` events of `event`, the i-th keyed `keyOf(i)`, numbered per key, in transactions of 500. */
async function writeEvents(event: EventDefinition, count: number, keyOf: (index: number) => string): Promise<void> {
  const next = new Map<string, number>();
  for (let start = 0; start < count; start += 500) {
    const slice = Array.from({ length: Math.min(500, count - start) }, (_, offset) => {
      const key = keyOf(start + offset);
      const n = next.get(key) ?? 0;
      next.set(key, n + 1);
      return { event: event.type, payload: payloadFor(key, n), key };
    });
    await prisma.$transaction((tx) => outbox.publishMany(tx, slice as Parameters<typeof outbox.publishMany>[1]));
  }
}

const effects = async (consumer: string) =>
  (await pool.query<{ count: number }>('SELECT count(*)::int AS count FROM bench_effect WHERE consumer = $1', [consumer])).rows[0]!.count;
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50));
}

// 1. The relay: 64 keys against a key per row.
const connection = await amqp.connect(amqpUrl);
const channel = await connection.createChannel();
await channel.assertExchange('outbox.unroutable', 'fanout', { durable: true });
await channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
await channel.assertQueue('bench.tap', { durable: true });
await channel.bindQueue('bench.tap', 'outbox.events', 'bench.relayed');

async function relayDrain(keyOf: (index: number) => string): Promise<number> {
  await pool.query('DELETE FROM outbox_message');
  await channel.purgeQueue('bench.tap');
  await writeEvents(relayed, relayMessages, keyOf);
  const relay = createRelay({ databaseUrl: database.url, amqpUrl, logger });
  const started = performance.now();
  const report = await relay.runOnce();
  const rate = report.published / ((performance.now() - started) / 1000);
  await relay.stop();
  if (report.published !== relayMessages) throw new Error(`the relay published ${report.published} of ${relayMessages}`);
  return rate;
}
const keyPerRow: number[] = [];
const sixtyFourKeys: number[] = [];
for (let round = 0; round < 2; round += 1) {
  keyPerRow.push(await relayDrain((index) => `row-${index}`));
  sixtyFourKeys.push(await relayDrain((index) => `key-${index % 64}`));
}
const bestPerRow = Math.max(...keyPerRow);
const best64 = Math.max(...sixtyFourKeys);
console.log(
  `relay, ${relayMessages} rows: key per row ${keyPerRow.map((rate) => rate.toFixed(0)).join(', ')} msg/s; 64 keys ${sixtyFourKeys.map((rate) => rate.toFixed(0)).join(', ')} msg/s`,
);
await channel.deleteQueue('bench.tap');
await pool.query('DELETE FROM outbox_message');

// 2. An ordered and an unordered consumer, the same handler, the same concurrency.
let violations = 0;
const lastSeen = new Map<string, number>();
function consumerOf(name: string, ordered: boolean, type: string) {
  return defineConsumer<typeof events, Tx>({
    name,
    events: [type],
    ordered,
    concurrency,
    async handle({ event, tx }) {
      const { key, n } = event.payload;
      const slot = `${name}/${key}`;
      if ((lastSeen.get(slot) ?? -1) > n) violations += ordered ? 1 : 0;
      lastSeen.set(slot, Math.max(lastSeen.get(slot) ?? -1, n));
      await tx.$executeRaw`INSERT INTO bench_effect (consumer, ordering_key, n) VALUES (${name}, ${key}, ${n})`;
    },
  });
}
const orderedConsumer = consumerOf('bench-ordered', true, 'bench.stepped');
const unorderedConsumer = consumerOf('bench-unordered', false, 'bench.stepped');
const workerFor = (consumer: ReturnType<typeof consumerOf>) =>
  createWorker({ prisma, amqpUrl, events, consumers: [consumer], logger, summaryIntervalMs: Number(process.env.BENCH_SUMMARY_MS ?? 0) });

async function drain(consumer: ReturnType<typeof consumerOf>): Promise<number> {
  const worker = workerFor(consumer);
  const started = performance.now();
  await worker.start();
  await until(async () => (await effects(consumer.name)) >= messages);
  const rate = messages / ((performance.now() - started) / 1000);
  await worker.stop();
  return rate;
}

// Declare both consumers' queues (and register them), then fill them through the relay.
for (const consumer of [orderedConsumer, unorderedConsumer]) {
  const worker = workerFor(consumer);
  await worker.start();
  await worker.stop();
}
await writeEvents(stepped, messages, (index) => `key-${index % keyCount}`);
const fill = createRelay({ databaseUrl: database.url, amqpUrl, logger });
await fill.runOnce();
await fill.stop();
const orderedRate = await drain(orderedConsumer);
const unorderedRate = await drain(unorderedConsumer);
const { rows: outOfOrder } = await pool.query<{ count: number }>(`
  SELECT count(*)::int AS count FROM (
    SELECT n < max(n) OVER (PARTITION BY ordering_key ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS behind
      FROM bench_effect WHERE consumer = 'bench-ordered') judged WHERE behind`);
console.log(
  `consumers, ${messages} events over ${keyCount} keys, concurrency ${concurrency}: ordered ${orderedRate.toFixed(0)} msg/s, unordered ${unorderedRate.toFixed(0)} msg/s; ` +
    `ordered effects committed out of order: ${outOfOrder[0]!.count}`,
);

// 3. One hot key, end to end.
const hotConsumer = consumerOf('bench-hot', true, 'bench.hot');
const hotWorker = workerFor(hotConsumer);
await hotWorker.start();
await hotWorker.stop();
await writeEvents(hot, hotMessages, () => 'the-hot-key');
const hotRelay = createRelay({ databaseUrl: database.url, amqpUrl, logger, pollIntervalMs: 10 });
const hotStarted = performance.now();
await Promise.all([hotRelay.start(), hotWorker.start()]);
await until(async () => (await effects('bench-hot')) >= hotMessages);
const hotRate = hotMessages / ((performance.now() - hotStarted) / 1000);
await Promise.all([hotRelay.stop(), hotWorker.stop()]);
console.log(`one hot key, ${hotMessages} events, relay and ordered consumer together: ${hotRate.toFixed(0)} msg/s`);

await channel.close();
await connection.close();
await prisma.$disconnect();
await pool.end();
await database.drop();
await vhost.delete();
console.log(`relay 64-keys/key-per-row ratio=${(best64 / bestPerRow).toFixed(2)} 64-keys=${best64.toFixed(0)} key-per-row=${bestPerRow.toFixed(0)}`);
console.log(
  `ordered/unordered ratio=${(orderedRate / unorderedRate).toFixed(2)} ordered=${orderedRate.toFixed(0)} unordered=${unorderedRate.toFixed(0)} violations=${violations + outOfOrder[0]!.count}`,
);
