// npm run bench:slow-provider [-- --messages 320 --concurrency 32 --pool 8 --provider-ms 500]
//
// A consumer whose handler calls a provider that takes 500 ms, at a concurrency (32) above
// the Prisma client's pool (8 connections), drained from a full queue:
// 1. in the transaction: the handler awaits the provider inside its interactive
//    transaction, holding a pooled connection for the whole call;
// 2. outsideTransaction: the call runs with no transaction open, then complete() writes
//    the effect in a short transaction.
// Reports each mode's rate and how many transactions waited for a pooled connection
// (sampled every 10 ms). Its own database and vhost, deleted at the end.
// Last line: slow-provider outside=<msg/s> inTransaction=<msg/s> ratio=<outside/inTransaction>
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import amqp from 'amqplib';
import pg from 'pg';
import { pino } from 'pino';
import { z } from 'zod';
import { PrismaClient } from '../generated/prisma/client.js';
import { createWorker, defineConsumer, defineEvent, outsideTransaction } from '../src/index.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { createBenchVhost } from './support/benchVhost.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '320' },
    concurrency: { type: 'string', default: '32' },
    pool: { type: 'string', default: '8' },
    'provider-ms': { type: 'string', default: '500' },
  },
});
const messages = Number(values.messages);
const concurrency = Number(values.concurrency);
const poolSize = Number(values.pool);
const providerMs = Number(values['provider-ms']);

const database = await createBenchDatabase('outbox_bench_slow_provider');
const vhost = await createBenchVhost('outbox-bench-slow-provider');
const pool = new pg.Pool({ connectionString: database.url, max: poolSize });
pool.on('error', () => {});
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
type Tx = Parameters<Parameters<typeof prisma.$transaction>[0]>[0];
const slowEvent = defineEvent('bench.charge', z.object({ n: z.number() }));
const callProvider = () => new Promise((resolve) => setTimeout(resolve, providerMs));
const recordCharge = (tx: Tx, messageId: string) => tx.signupLog.create({ data: { userId: '00000000-0000-4000-8000-000000000000', messageId } });

interface ModeResult {
  rate: number;
  meanWaiting: number;
  maxWaiting: number;
}

async function drain(mode: 'in-transaction' | 'outside'): Promise<ModeResult> {
  const name = `bench-slow-${mode}`;
  const base = { name, events: ['bench.charge'] as const, concurrency, prefetch: concurrency * 2 };
  const consumer =
    mode === 'outside'
      ? defineConsumer<[typeof slowEvent], Tx>({
          ...base,
          handle: outsideTransaction(async ({ messageId, complete }) => {
            await callProvider();
            await complete((tx) => recordCharge(tx, messageId).then(() => {}));
          }),
        })
      : defineConsumer<[typeof slowEvent], Tx>({
          ...base,
          async handle({ tx, messageId }) {
            await callProvider();
            await recordCharge(tx, messageId);
          },
        });
  const worker = createWorker({
    prisma,
    amqpUrl: vhost.url,
    events: [slowEvent],
    logger: pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' }),
    consumers: [consumer],
  });
  await worker.start();
  await worker.stop();
  const connection = await amqp.connect(vhost.url);
  const channel = await connection.createConfirmChannel();
  for (let index = 0; index < messages; index += 1) {
    channel.sendToQueue(name, Buffer.from(JSON.stringify({ n: index })), {
      messageId: randomUUID(),
      type: 'bench.charge',
      contentType: 'application/json',
      persistent: true,
      headers: { 'outbox-event-version': 1 },
    });
  }
  await channel.waitForConfirms();
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(pool.waitingCount), 10);
  const started = performance.now();
  await worker.start();
  const done = () => pool.query<{ count: number }>("SELECT count(*)::int AS count FROM outbox_inbox WHERE consumer = $1 AND status = 'done'", [name]);
  while ((await done()).rows[0]!.count < messages) await new Promise((resolve) => setTimeout(resolve, 50));
  const rate = messages / ((performance.now() - started) / 1000);
  clearInterval(sampler);
  await worker.stop();
  await channel.close();
  await connection.close();
  const meanWaiting = samples.reduce((sum, value) => sum + value, 0) / Math.max(1, samples.length);
  return { rate, meanWaiting, maxWaiting: Math.max(0, ...samples) };
}

try {
  const inTransaction = await drain('in-transaction');
  const outside = await drain('outside');
  console.log(`messages=${messages} concurrency=${concurrency} pool=${poolSize} provider=${providerMs} ms`);
  const describe = (label: string, result: ModeResult) =>
    console.log(`${label}: ${result.rate.toFixed(1)} msg/s; waiting for a pooled connection: mean ${result.meanWaiting.toFixed(1)}, max ${result.maxWaiting}`);
  describe('handler in the transaction  ', inTransaction);
  describe('handler outsideTransaction  ', outside);
  console.log(
    `slow-provider outside=${outside.rate.toFixed(1)} inTransaction=${inTransaction.rate.toFixed(1)} ratio=${(outside.rate / inTransaction.rate).toFixed(2)}`,
  );
} finally {
  await prisma.$disconnect();
  await pool.end();
  await database.drop();
  await vhost.delete();
}
