// npm run bench:consumers [-- --messages 50000 --concurrency 8]
//
// 1. plain: N transactions, each inserting one row (the handler's work), from
//    `concurrency` writers through the same Prisma client: what the database
//    does for the side effect alone.
// 2. consumer: N messages in the consumer's queue, drained by a worker whose
//    handler does that same insert: plus the broker, the inbox and the acks.
// Last line: consumer/plain ratio=<x> consumer=<msg/s> plain=<tx/s>
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

const { values } = parseArgs({ options: { messages: { type: 'string', default: '50000' }, concurrency: { type: 'string', default: '8' } } });
const messages = Number(values.messages);
const concurrency = Number(values.concurrency);

const database = await createBenchDatabase('outbox_bench_consumers');
const databaseUrl = database.url;
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
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

async function consumer(): Promise<number> {
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
        prefetch: concurrency * 4,
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
  await channel.close();
  await connection.close();
  return rate;
}

const plainRate = await plain();
await pool.query('TRUNCATE demo_signup_log');
const consumerRate = await consumer();
console.log(`messages=${messages} concurrency=${concurrency}`);
console.log(`plain insert transactions: ${plainRate.toFixed(0)} tx/s`);
console.log(`worker (broker + inbox + insert + ack): ${consumerRate.toFixed(0)} msg/s`);
await prisma.$disconnect();
await pool.end();
await database.drop();
console.log(`consumer/plain ratio=${(consumerRate / plainRate).toFixed(2)} consumer=${consumerRate.toFixed(0)} plain=${plainRate.toFixed(0)}`);
