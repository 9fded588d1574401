// npm run bench:consumers [-- --messages 50000 --concurrency 8]
//
// 1. plain: N transactions, each inserting one row (the handler's work), from
//    `concurrency` writers through the same Prisma client: what the database
//    does for the side effect alone.
// 2. consumer: N messages in the consumer's queue, drained by a worker whose
//    handler does that same insert: plus the broker, the inbox and the acks;
//    one by one, then batched (`batchSize`, one transaction per group).
// Last line: consumer/plain ratio=<batched/plain> consumer=<batched msg/s> plain=<tx/s> oneByOne=<ratio>
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import amqp from 'amqplib';
import pg from 'pg';
import { pino } from 'pino';
import { z } from 'zod';
import { PrismaClient } from '../generated/prisma/client.js';
import { createWorker, defineConsumer, defineEvent } from '../src/index.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { closedLoopRate } from './support/closedLoop.js';
import { createBenchVhost } from './support/benchVhost.js';

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '50000' }, concurrency: { type: 'string', default: '8' }, 'batch-size': { type: 'string', default: '50' } },
});
const messages = Number(values.messages);
const concurrency = Number(values.concurrency);
const batchSize = Number(values['batch-size']);

const database = await createBenchDatabase('outbox_bench_consumers');
const databaseUrl = database.url;
const vhost = await createBenchVhost('outbox-bench-consumers');
const amqpUrl = vhost.url;
const pool = new pg.Pool({ connectionString: databaseUrl, max: concurrency + 2 });
// The benchmark database is dropped WITH (FORCE) at the end; a connection reporting that is expected.
pool.on('error', () => {});
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
type Tx = Parameters<Parameters<typeof prisma.$transaction>[0]>[0];
const insertEffect = (tx: Tx, messageId: string) => tx.signupLog.create({ data: { userId: '00000000-0000-4000-8000-000000000000', messageId } });

async function plain(): Promise<number> {
  return closedLoopRate(messages, concurrency, () => prisma.$transaction((tx) => insertEffect(tx, randomUUID())));
}

const benchEvent = defineEvent('bench.happened', z.object({ n: z.number() }));
const CONSUMER = 'bench-consumer';

async function consumer(batchSize: number): Promise<number> {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createConfirmChannel();
  await channel.deleteQueue(CONSUMER).catch(() => {});
  const worker = createWorker({
    prisma,
    amqpUrl,
    events: [benchEvent],
    logger: pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' }),
    consumers: [
      defineConsumer<[typeof benchEvent], Tx>({
        name: CONSUMER,
        events: ['bench.happened'],
        concurrency,
        batchSize,
        prefetch: concurrency * Math.max(4, batchSize),
        handle: ({ tx, messageId }) => insertEffect(tx, messageId).then(() => {}),
      }),
    ],
  });
  // Declare the queue, stop, fill it, then time the drain alone.
  await worker.start();
  await worker.stop();
  for (let index = 0; index < messages; index += 1) {
    const ok = channel.sendToQueue(CONSUMER, Buffer.from(JSON.stringify({ n: index })), {
      messageId: randomUUID(),
      type: 'bench.happened',
      contentType: 'application/json',
      persistent: true,
      headers: { 'outbox-event-version': 1 },
    });
    if (!ok) await new Promise((resolve) => channel.once('drain', resolve));
  }
  await channel.waitForConfirms();
  const started = performance.now();
  await worker.start();
  while ((await pool.query<{ count: number }>('SELECT count(*)::int AS count FROM outbox_inbox WHERE status = $1', ['done'])).rows[0]!.count < messages) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const rate = messages / ((performance.now() - started) / 1000);
  await worker.stop();
  await channel.deleteQueue(CONSUMER);
  await channel.close();
  await connection.close();
  return rate;
}

const plainRate = await plain();
await pool.query('TRUNCATE demo_signup_log');
const oneByOneRate = await consumer(1);
await pool.query('TRUNCATE demo_signup_log, outbox_inbox');
const batchedRate = await consumer(batchSize);
console.log(`messages=${messages} concurrency=${concurrency}`);
console.log(`plain insert transactions: ${plainRate.toFixed(0)} tx/s`);
console.log(`worker, one by one (broker + inbox + insert + ack): ${oneByOneRate.toFixed(0)} msg/s (${(oneByOneRate / plainRate).toFixed(2)} of plain)`);
console.log(`worker, batchSize ${batchSize}: ${batchedRate.toFixed(0)} msg/s (${(batchedRate / plainRate).toFixed(2)} of plain)`);
await prisma.$disconnect();
await pool.end();
await database.drop();
await vhost.delete();
console.log(
  `consumer/plain ratio=${(batchedRate / plainRate).toFixed(2)} consumer=${batchedRate.toFixed(0)} plain=${plainRate.toFixed(0)} oneByOne=${(oneByOneRate / plainRate).toFixed(2)}`,
);
