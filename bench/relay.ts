// npm run bench:relay [-- --messages 100000 --rate 1000 --seconds 10]
//
// 1. raw: amqplib publishing N persistent messages with streaming confirms (at most
//    1000 unconfirmed), the relay's payload and properties, to the same exchange and queue.
// 2. relay: the relay draining N pending outbox rows (runOnce), peak RSS sampled.
// 3. latency: events committed at a fixed rate while the relay runs; commit to
//    delivery at a consumer, p50 / p99, polling and with the NOTIFY wake-up.
// Last line: relay/raw ratio=<x> relay=<msg/s> raw=<msg/s> peakRssMiB=<n>
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import amqp, { type ConfirmChannel } from 'amqplib';
import pg from 'pg';
import { pino } from 'pino';
import { createRelay } from '../src/index.js';
import { createBenchDatabase } from './support/benchDatabase.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    'batch-size': { type: 'string' },
    'relay-in-flight': { type: 'string' },
    'skip-latency': { type: 'boolean', default: false },
  },
});
const messages = Number(values.messages);
const rate = Number(values.rate);
const seconds = Number(values.seconds);
// The raw publisher's window of unconfirmed messages: the relay's default maxInFlight.
const maxInFlight = 1500;

const database = await createBenchDatabase('outbox_bench_relay');
const databaseUrl = database.url;
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const EXCHANGE = 'bench.outbox.events';
const QUEUE = 'bench.outbox.tap';
const payload = JSON.stringify({ orderId: '0b4b5f2e-6a63-4f61-9a53-d1f0f1c2a001', n: 12345 });
const silent = pino({ level: 'silent' });

const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
// The benchmark database is dropped WITH (FORCE) at the end; a connection reporting that is expected.
pool.on('error', () => {});
const connection = await amqp.connect(amqpUrl, { noDelay: true });
const setup = await connection.createChannel();
await setup.assertExchange('outbox.unroutable', 'fanout', { durable: true });
await setup.assertExchange(EXCHANGE, 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
await setup.assertQueue(QUEUE, { durable: true });
await setup.bindQueue(QUEUE, EXCHANGE, '#');
await setup.purgeQueue(QUEUE);

async function rawPublish(channel: ConfirmChannel, count: number): Promise<number> {
  const body = Buffer.from(payload);
  let outstanding = 0;
  let release: (() => void) | undefined;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    let confirmed = 0;
    const onConfirm = (error: unknown) => {
      if (error) return reject(error instanceof Error ? error : new Error(String(error)));
      outstanding -= 1;
      confirmed += 1;
      release?.();
      if (confirmed === count) resolve();
    };
    void (async () => {
      for (let index = 0; index < count; index += 1) {
        while (outstanding >= maxInFlight) await new Promise<void>((wake) => (release = wake));
        outstanding += 1;
        // The same properties the relay sets, so both sides send the same bytes.
        const ok = channel.publish(
          EXCHANGE,
          'order.placed',
          body,
          {
            persistent: true,
            messageId: randomUUID(),
            type: 'order.placed',
            timestamp: Math.floor(Date.now() / 1000),
            contentType: 'application/json',
            appId: 'outbox-relay',
            headers: { 'outbox-event-version': 1 },
          },
          onConfirm,
        );
        if (!ok) await new Promise<void>((wake) => channel.once('drain', wake));
      }
    })();
  });
  return count / ((performance.now() - started) / 1000);
}

async function relayDrain(count: number): Promise<{ rate: number; peakRssMiB: number }> {
  await pool.query('TRUNCATE outbox_message');
  await pool.query(`INSERT INTO outbox_message (id, event_type, payload) SELECT gen_random_uuid(), 'order.placed', $1::jsonb FROM generate_series(1, $2)`, [
    payload,
    count,
  ]);
  await pool.query('VACUUM ANALYZE outbox_message');
  const relay = createRelay({
    databaseUrl,
    amqpUrl,
    exchange: EXCHANGE,
    logger: silent,
    ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
    ...(values['relay-in-flight'] ? { maxInFlight: Number(values['relay-in-flight']) } : {}),
  });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const started = performance.now();
  const report = await relay.runOnce();
  const elapsed = performance.now() - started;
  clearInterval(sampler);
  await relay.stop();
  if (report.published !== count) throw new Error(`relay published ${report.published} of ${count}`);
  return { rate: count / (elapsed / 1000), peakRssMiB: Math.round(peakRss / 1024 / 1024) };
}

const insertOnly = `INSERT INTO outbox_message (id, event_type, payload) VALUES (gen_random_uuid(), 'order.placed', jsonb_build_object('n', $1::int)) RETURNING id::text`;
const insertAndNotify = `WITH inserted AS (${insertOnly}) SELECT id, pg_notify('outbox_message', '') FROM inserted`;
const writerPool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
writerPool.on('error', () => {});

async function latency(wakeRelay: boolean): Promise<{ p50: number; p99: number; count: number }> {
  await pool.query('TRUNCATE outbox_message');
  const consumerChannel = await connection.createChannel();
  await consumerChannel.purgeQueue(QUEUE);
  const committedAt = new Map<string, number>();
  // Arrivals are matched afterwards: a delivery can beat the writer's own commit acknowledgement.
  const arrivedAt = new Map<string, number>();
  await consumerChannel.consume(QUEUE, (message) => {
    if (!message) return;
    arrivedAt.set(message.properties.messageId as string, performance.now());
    consumerChannel.ack(message);
  });
  const relay = createRelay({ databaseUrl, amqpUrl, exchange: EXCHANGE, logger: silent, listenForWakeUps: wakeRelay });
  await relay.start();
  const total = rate * seconds;
  const started = performance.now();
  const writes: Promise<void>[] = [];
  for (let index = 0; index < total; index += 1) {
    const due = started + (index * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    // One autocommitted statement per event: the writer's cost is not what is measured
    // here (see bench/notify.ts), the relay's pick-up and publish latency is.
    writes.push(
      writerPool.query<{ id: string }>(wakeRelay ? insertAndNotify : insertOnly, [index]).then(({ rows }) => {
        committedAt.set(rows[0]!.id, performance.now());
      }),
    );
  }
  await Promise.all(writes);
  const deadline = performance.now() + 30_000;
  while (arrivedAt.size < total && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await relay.stop();
  await consumerChannel.close();
  const latencies = [...committedAt].flatMap(([id, at]) => {
    const arrived = arrivedAt.get(id);
    return arrived === undefined ? [] : [Math.max(0, arrived - at)];
  });
  latencies.sort((a, b) => a - b);
  const at = (share: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * share))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), count: latencies.length };
}

const rawChannel = await connection.createConfirmChannel();
await rawPublish(rawChannel, Math.min(5000, messages)); // warm-up
await setup.purgeQueue(QUEUE);
const raw = await rawPublish(rawChannel, messages);
await setup.purgeQueue(QUEUE);
const relayed = await relayDrain(messages);
await setup.purgeQueue(QUEUE);
const skipped = { p50: Number.NaN, p99: Number.NaN, count: 0 };
const polled = values['skip-latency'] ? skipped : await latency(false);
const notified = values['skip-latency'] ? skipped : await latency(true);

console.log(`messages=${messages} payloadBytes=${Buffer.byteLength(payload)} maxInFlight=${maxInFlight}`);
console.log(`raw confirmed publishing: ${raw.toFixed(0)} msg/s`);
console.log(`relay drain:              ${relayed.rate.toFixed(0)} msg/s, peak RSS ${relayed.peakRssMiB} MiB`);
console.log(
  `latency at ${rate}/s, commit to delivery, polling every 100 ms: p50=${polled.p50.toFixed(1)} ms p99=${polled.p99.toFixed(1)} ms (${polled.count} events)`,
);
console.log(
  `latency at ${rate}/s, commit to delivery, NOTIFY wake-up:      p50=${notified.p50.toFixed(1)} ms p99=${notified.p99.toFixed(1)} ms (${notified.count} events)`,
);

await setup.deleteQueue(QUEUE);
await setup.deleteExchange(EXCHANGE);
await connection.close();
await pool.end();
await writerPool.end();
await database.drop();
console.log(`relay/raw ratio=${(relayed.rate / raw).toFixed(2)} relay=${relayed.rate.toFixed(0)} raw=${raw.toFixed(0)} peakRssMiB=${relayed.peakRssMiB}`);
