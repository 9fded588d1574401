// npm run bench:relay [-- --messages 100000 --rate 1000 --seconds 10]
//
// Two workloads, each against its own baseline in this process:
// - realistic (the headline): fresh rows (not vacuumed), an ordering key each, and
//   varied JSON payloads of about 200 bytes, as an app writes them;
// - best case: vacuumed rows with one identical 60-byte payload and no key.
// 1. raw: amqplib publishing the same N messages (same bytes, same properties) with
//    streaming confirms (at most 1500 unconfirmed), to the same exchange and queue.
// 2. relay: the relay draining N pending outbox rows (runOnce), peak RSS sampled, and
//    where its batches' time went (claim, publish, confirm wait, settle, commit).
// 3. latency: events committed at a fixed rate while the relay runs; commit to
//    delivery at a consumer, p50 / p99, polling and with the NOTIFY wake-up.
// Everything runs in a RabbitMQ vhost of its own, deleted at the end.
// Last line (realistic): relay/raw ratio=<x> relay=<msg/s> raw=<msg/s> peakRssMiB=<n>
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import amqp, { type ConfirmChannel } from 'amqplib';
import pg from 'pg';
import { pino } from 'pino';
import { createRelay, type BatchPhases } from '../src/index.js';
import { createBenchDatabase } from './support/benchDatabase.js';
import { createBenchVhost } from './support/benchVhost.js';

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
const vhost = await createBenchVhost('outbox-bench-relay');
const amqpUrl = vhost.url;
const EXCHANGE = 'bench.outbox.events';
const QUEUE = 'bench.outbox.tap';

/** One workload's messages: the payloads (JSON text) and, for the realistic one, a key each. */
interface Workload {
  name: 'realistic' | 'best case';
  payloads: string[];
  keys: (string | null)[];
  vacuum: boolean;
}

const bestCasePayload = JSON.stringify({ orderId: '0b4b5f2e-6a63-4f61-9a53-d1f0f1c2a001', n: 12345 });
const bestCase: Workload = {
  name: 'best case',
  payloads: Array.from({ length: messages }, () => bestCasePayload),
  keys: Array.from({ length: messages }, () => null),
  vacuum: true,
};

/** An order event as apps write them: ids, amounts, a few lines, a note of varying length (about 200 bytes in all). */
function realisticPayload(orderId: string): string {
  const lines = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => ({
    sku: `SKU-${Math.floor(Math.random() * 100_000)}`,
    qty: 1 + Math.floor(Math.random() * 4),
  }));
  const note = 'x'.repeat(Math.floor(Math.random() * 60));
  return JSON.stringify({ orderId, customerId: randomUUID(), totalCents: Math.floor(Math.random() * 1_000_000), currency: 'EUR', lines, note });
}
const realisticKeys = Array.from({ length: messages }, () => randomUUID());
const realistic: Workload = { name: 'realistic', payloads: realisticKeys.map(realisticPayload), keys: realisticKeys, vacuum: false };
const averageBytes = (workload: Workload) =>
  Math.round(workload.payloads.reduce((sum, payload) => sum + Buffer.byteLength(payload), 0) / workload.payloads.length);
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

async function rawPublish(channel: ConfirmChannel, workload: Workload, count = workload.payloads.length): Promise<number> {
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
        const key = workload.keys[index];
        const ok = channel.publish(
          EXCHANGE,
          'order.placed',
          Buffer.from(workload.payloads[index]!, 'utf8'),
          {
            persistent: true,
            messageId: randomUUID(),
            type: 'order.placed',
            timestamp: Math.floor(Date.now() / 1000),
            contentType: 'application/json',
            appId: 'outbox-relay',
            headers: { 'outbox-event-version': 1, ...(key ? { 'outbox-ordering-key': key } : {}) },
          },
          onConfirm,
        );
        if (!ok) await new Promise<void>((wake) => channel.once('drain', wake));
      }
    })();
  });
  return count / ((performance.now() - started) / 1000);
}

interface Drain {
  rate: number;
  peakRssMiB: number;
  /** Summed over the batches (several run at once: the sum exceeds the wall time). */
  phases: BatchPhases;
  batches: number;
}

async function relayDrain(workload: Workload): Promise<Drain> {
  const count = workload.payloads.length;
  await pool.query('TRUNCATE outbox_message');
  // Inserted in chunks, as many transactions would; vacuumed only for the best case.
  for (let start = 0; start < count; start += 5_000) {
    const end = Math.min(count, start + 5_000);
    await pool.query(
      `INSERT INTO outbox_message (id, event_type, ordering_key, payload)
       SELECT gen_random_uuid(), 'order.placed', key, payload FROM unnest($1::varchar[], $2::jsonb[]) AS row (key, payload)`,
      [workload.keys.slice(start, end), workload.payloads.slice(start, end)],
    );
  }
  if (workload.vacuum) await pool.query('VACUUM ANALYZE outbox_message');
  const relay = createRelay({
    databaseUrl,
    amqpUrl,
    exchange: EXCHANGE,
    logger: silent,
    ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
    ...(values['relay-in-flight'] ? { maxInFlight: Number(values['relay-in-flight']) } : {}),
  });
  const phases: BatchPhases = { claim: 0, publish: 0, confirm: 0, settle: 0, commit: 0 };
  let batches = 0;
  relay.on('batch:published', ({ phasesMs }) => {
    batches += 1;
    for (const phase of Object.keys(phases) as (keyof BatchPhases)[]) phases[phase] += phasesMs?.[phase] ?? 0;
  });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  const started = performance.now();
  const report = await relay.runOnce();
  const elapsed = performance.now() - started;
  clearInterval(sampler);
  await relay.stop();
  if (report.published !== count) throw new Error(`relay published ${report.published} of ${count}`);
  return { rate: count / (elapsed / 1000), peakRssMiB: Math.round(peakRss / 1024 / 1024), phases, batches };
}

function describePhases(drain: Drain): string {
  const total = Object.values(drain.phases).reduce((sum, ms) => sum + ms, 0);
  return (Object.entries(drain.phases) as [keyof BatchPhases, number][])
    .map(([phase, ms]) => `${phase} ${(ms / drain.batches).toFixed(1)} ms (${Math.round((ms / total) * 100)}%)`)
    .join(', ');
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
await rawPublish(rawChannel, bestCase, Math.min(5000, messages)); // warm-up
const results: { workload: Workload; raw: number; relayed: Drain }[] = [];
for (const workload of [bestCase, realistic]) {
  await setup.purgeQueue(QUEUE);
  const raw = await rawPublish(rawChannel, workload);
  await setup.purgeQueue(QUEUE);
  const relayed = await relayDrain(workload);
  results.push({ workload, raw, relayed });
}
await setup.purgeQueue(QUEUE);
const skipped = { p50: Number.NaN, p99: Number.NaN, count: 0 };
const polled = values['skip-latency'] ? skipped : await latency(false);
const notified = values['skip-latency'] ? skipped : await latency(true);

console.log(`messages=${messages} maxInFlight=${maxInFlight}`);
for (const { workload, raw, relayed } of results) {
  console.log(
    `${workload.name} (${averageBytes(workload)}-byte payloads${workload.keys[0] ? ', a key each' : ''}${workload.vacuum ? ', vacuumed' : ', fresh rows'}):`,
  );
  console.log(`  raw confirmed publishing: ${raw.toFixed(0)} msg/s`);
  console.log(`  relay drain:              ${relayed.rate.toFixed(0)} msg/s, peak RSS ${relayed.peakRssMiB} MiB, relay/raw ${(relayed.rate / raw).toFixed(2)}`);
  console.log(`  per batch (${relayed.batches} batches): ${describePhases(relayed)}`);
}
console.log(
  `latency at ${rate}/s, commit to delivery, polling every 100 ms: p50=${polled.p50.toFixed(1)} ms p99=${polled.p99.toFixed(1)} ms (${polled.count} events)`,
);
console.log(
  `latency at ${rate}/s, commit to delivery, NOTIFY wake-up:      p50=${notified.p50.toFixed(1)} ms p99=${notified.p99.toFixed(1)} ms (${notified.count} events)`,
);

await connection.close();
await pool.end();
await writerPool.end();
await database.drop();
await vhost.delete();
const best = results[0]!;
const headline = results[1]!;
console.log(`best-case relay/raw ratio=${(best.relayed.rate / best.raw).toFixed(2)} relay=${best.relayed.rate.toFixed(0)} raw=${best.raw.toFixed(0)}`);
console.log(
  `relay/raw ratio=${(headline.relayed.rate / headline.raw).toFixed(2)} relay=${headline.relayed.rate.toFixed(0)} raw=${headline.raw.toFixed(0)} peakRssMiB=${headline.relayed.peakRssMiB}`,
);
