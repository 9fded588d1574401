import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createOutbox, createRelay, type Relay, type RelayBatchReport } from '../../src/index.js';
import { anything, orderPlaced, testEvents } from '../support/events.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const outbox = createOutbox({ events: testEvents });
const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const relays: Relay[] = [];
const tapQueues: string[] = [];

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('relay')]);
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  for (const queue of tapQueues.splice(0)) await broker.channel.deleteQueue(queue);
  await db.pool.query('TRUNCATE outbox_message');
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

function relay(overrides: Partial<Parameters<typeof createRelay>[0]> = {}): Relay {
  const created = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger: silent, ...overrides });
  relays.push(created);
  return created;
}

/** A queue bound to every event, declared before publishing, like a consumer's. */
async function tapQueue(name: string, pattern = '#'): Promise<string> {
  await broker.channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
  await broker.channel.assertQueue(name, { durable: true });
  await broker.channel.purgeQueue(name);
  await broker.channel.bindQueue(name, 'outbox.events', pattern);
  tapQueues.push(name);
  return name;
}

async function statuses(): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ status: string; count: number }>('SELECT status::text, count(*)::int AS count FROM outbox_message GROUP BY 1');
  return Object.fromEntries(rows.map((row) => [row.status, row.count]));
}

describe('relay.runOnce', () => {
  it('publishes every due row once, with its properties, and marks it published', async () => {
    const queue = await tapQueue('tap.all');
    const orderId = '0b4b5f2e-6a63-4f61-9a53-d1f0f1c2a001';
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const ids = await db.prisma.$transaction((tx) =>
      outbox.publishMany(tx, [
        { event: orderPlaced, payload: { orderId, totalCents: 5 }, key: orderId, correlationId: 'req-7', traceparent, headers: { tenant: 'acme' } },
        ...Array.from({ length: 120 }, (_, index) => ({ event: anything, payload: { index } })),
      ]),
    );

    const report = await relay({ batchSize: 50, maxInFlight: 100 }).runOnce();
    expect(report).toMatchObject({ claimed: 121, published: 121, retried: 0, failed: 0, interrupted: 0 });
    expect(await statuses()).toEqual({ published: 121 });

    const messages = await takeAll(broker.channel, queue);
    expect(messages.map((message) => message.properties.messageId).sort()).toEqual([...ids].sort());
    const first = messages.find((message) => message.properties.messageId === ids[0])!;
    expect(first.fields.routingKey).toBe('order.placed');
    expect(JSON.parse(first.content.toString())).toEqual({ orderId, totalCents: 5 });
    expect(first.properties).toMatchObject({
      type: 'order.placed',
      contentType: 'application/json',
      deliveryMode: 2,
      appId: 'outbox-relay',
      correlationId: 'req-7',
      headers: { tenant: 'acme', traceparent, 'outbox-event-version': 1, 'outbox-ordering-key': orderId },
    });
    expect(Math.abs(first.properties.timestamp * 1000 - Date.now())).toBeLessThan(60_000);

    const { rows } = await db.pool.query('SELECT attempts, published_at, last_error FROM outbox_message');
    expect(rows.every((row) => row.attempts === 1 && row.published_at instanceof Date && row.last_error === null)).toBe(true);
    expect(await relay().runOnce()).toMatchObject({ batches: 0, published: 0 });
  });

  it('keeps an event no queue is bound for in outbox.unroutable, and marks it published', async () => {
    const [id] = await db.prisma.$transaction((tx) => outbox.publishMany(tx, [{ event: 'user.signed-up', payload: { userId: 'nobody-listens' } }]));
    await broker.channel.purgeQueue('outbox.unroutable').catch(() => {});
    await relay().runOnce();
    const kept = await takeAll(broker.channel, 'outbox.unroutable');
    expect(kept.map((message) => [message.properties.messageId, message.fields.routingKey])).toEqual([[id, 'user.signed-up']]);
    expect(await statuses()).toEqual({ published: 1 });
  });

  it('does not publish a scheduled event before its time', async () => {
    await db.prisma.$transaction((tx) => outbox.publish(tx, anything, 'later', { availableAt: new Date(Date.now() + 60_000) }));
    expect(await relay().runOnce()).toMatchObject({ published: 0 });
    expect(await statuses()).toEqual({ pending: 1 });
  });

  it('works through the app’s Prisma client as well', async () => {
    const queue = await tapQueue('tap.prisma');
    const id = await db.prisma.$transaction((tx) => outbox.publish(tx, anything, 'via prisma'));
    const report = await relay({ databaseUrl: undefined, prisma: db.prisma }).runOnce();
    expect(report.published).toBe(1);
    expect((await takeAll(broker.channel, queue)).map((message) => message.properties.messageId)).toEqual([id]);
  });
});

describe('broker nacks', () => {
  // A queue that refuses everything: the broker nacks publishes routed to it.
  async function refusingQueue(name: string, pattern: string) {
    await broker.channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
    await broker.channel.assertQueue(name, { durable: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    await broker.channel.bindQueue(name, 'outbox.events', pattern);
  }

  it('leave the row pending with attempts, error and backoff, then failed after maxPublishAttempts; the rest of the batch is published', async () => {
    await refusingQueue('refuses.orders', 'order.placed');
    const orderId = '0b4b5f2e-6a63-4f61-9a53-d1f0f1c2a002';
    const [refusedId] = await db.prisma.$transaction((tx) =>
      outbox.publishMany(tx, [
        { event: orderPlaced, payload: { orderId, totalCents: 1 } },
        { event: anything, payload: 'fine' },
      ]),
    );
    const failures: unknown[] = [];
    const registry = new Registry();
    const nacking = relay({ maxPublishAttempts: 2, initialBackoffMs: 300, maxBackoffMs: 300, metrics: registry });
    nacking.on('message:failed', (failure) => failures.push(failure));

    expect(await nacking.runOnce()).toMatchObject({ published: 1, retried: 1, failed: 0 });
    let { rows } = await db.pool.query('SELECT status::text, attempts, last_error, available_at > now() AS later FROM outbox_message WHERE id = $1', [
      refusedId,
    ]);
    expect(rows[0]).toEqual({ status: 'pending', attempts: 1, last_error: 'broker nack', later: true });

    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await nacking.runOnce()).toMatchObject({ published: 0, retried: 0, failed: 1 });
    ({ rows } = await db.pool.query('SELECT status::text, attempts FROM outbox_message WHERE id = $1', [refusedId]));
    expect(rows[0]).toEqual({ status: 'failed', attempts: 2 });
    expect(failures).toEqual([{ messageId: refusedId, eventType: 'order.placed', attempts: 2, error: 'broker nack' }]);
    const text = await registry.metrics();
    expect(text).toContain('outbox_relay_failed_messages_total{event_type="order.placed"} 1');
    expect(text).toContain('outbox_relay_publish_failures_total{reason="nack"} 2');
    await broker.channel.deleteQueue('refuses.orders');
  });

  it('back off exponentially: available_at moves out with each attempt', async () => {
    await refusingQueue('refuses.all', 'test.#');
    await db.prisma.$transaction((tx) => outbox.publish(tx, anything, 'x'));
    const nacking = relay({ maxPublishAttempts: 10, initialBackoffMs: 60_000, maxBackoffMs: 3_600_000 });
    await nacking.runOnce();
    const { rows } = await db.pool.query('SELECT extract(epoch FROM available_at - now()) AS seconds FROM outbox_message');
    // 60 s ± 20% jitter.
    expect(Number(rows[0].seconds)).toBeGreaterThan(45);
    expect(Number(rows[0].seconds)).toBeLessThan(75);
    await broker.channel.deleteQueue('refuses.all');
  });
});

describe('ordering and several relays', () => {
  it('two relays publish each row once, and each key in write order', async () => {
    const queue = await tapQueue('tap.order');
    const keys = Array.from({ length: 20 }, (_, index) => `aggregate-${index}`);
    for (let round = 0; round < 15; round += 1) {
      await db.prisma.$transaction((tx) =>
        outbox.publishMany(tx, [
          ...keys.map((key) => ({ event: anything, payload: { key, round }, key })),
          ...Array.from({ length: 10 }, () => ({ event: anything, payload: { round } })),
        ]),
      );
    }
    const total = 15 * (20 + 10);
    const first = relay({ batchSize: 7, maxInFlight: 21 });
    const second = relay({ batchSize: 5, maxInFlight: 10 });
    await Promise.all([first.start(), second.start()]);
    await eventually(async () => (await statuses()).published === total, 30_000, 'all rows published');

    const messages = await takeAll(broker.channel, queue);
    const ids = messages.map((message) => message.properties.messageId as string);
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
    for (const key of keys) {
      const rounds = messages
        .filter((message) => message.properties.headers?.['outbox-ordering-key'] === key)
        .map((message) => JSON.parse(message.content.toString()).round);
      expect(rounds, key).toEqual([...Array(15).keys()]);
    }
  });

  it('a failed row blocks the later rows of its key, not other keys', async () => {
    await db.prisma.$transaction((tx) =>
      outbox.publishMany(tx, [
        { event: anything, payload: 1, key: 'blocked' },
        { event: anything, payload: 2, key: 'blocked' },
        { event: anything, payload: 3, key: 'free' },
      ]),
    );
    await db.pool.query("UPDATE outbox_message SET status = 'failed' WHERE payload = '1'");
    await relay().runOnce();
    const { rows } = await db.pool.query('SELECT payload, status::text FROM outbox_message ORDER BY seq');
    expect(rows).toEqual([
      { payload: 1, status: 'failed' },
      { payload: 2, status: 'pending' },
      { payload: 3, status: 'published' },
    ]);
  });

  it("publishes a key's pending run in one batch, in write order, beside other keys", async () => {
    const queue = await tapQueue('tap.run');
    for (let n = 0; n < 40; n += 1) {
      await db.prisma.$transaction((tx) =>
        outbox.publishMany(tx, [
          { event: anything, payload: { key: 'hot', n }, key: 'hot' },
          { event: anything, payload: { key: `cold-${n % 4}`, n }, key: `cold-${n % 4}` },
        ]),
      );
    }
    const report = await relay({ batchSize: 100, maxInFlight: 100 }).runOnce();
    // 80 rows, 5 keys: one batch (then an empty look), where one row per key would take 40.
    expect(report).toMatchObject({ published: 80, batches: 1 });
    const byKey = new Map<string, number[]>();
    for (const message of await takeAll(broker.channel, queue)) {
      const { key, n } = JSON.parse(message.content.toString()) as { key: string; n: number };
      byKey.set(key, [...(byKey.get(key) ?? []), n]);
    }
    expect(byKey.get('hot')).toEqual([...Array(40).keys()]);
    for (let cold = 0; cold < 4; cold += 1) expect(byKey.get(`cold-${cold}`)).toEqual([...Array(40).keys()].filter((n) => n % 4 === cold));
  });

  it("a key's head back from its retry is not outranked by the key's later rows (they sort before it by available_at)", async () => {
    const queue = await tapQueue('tap.head');
    await db.prisma.$transaction((tx) =>
      outbox.publishMany(
        tx,
        [1, 2, 3, 4, 5].map((n) => ({ event: anything, payload: n, key: 'a' })),
      ),
    );
    // a1 timed out once and came due again later than the rest of its key.
    await db.pool.query("UPDATE outbox_message SET available_at = now() - interval '1 hour' WHERE payload <> '1'");
    await db.pool.query("UPDATE outbox_message SET available_at = now() - interval '1 second', attempts = 1 WHERE payload = '1'");
    const report = await relay({ batchSize: 2, maxInFlight: 2 }).runOnce();
    expect(report).toMatchObject({ published: 5 });
    expect((await takeAll(broker.channel, queue)).map((message) => JSON.parse(message.content.toString()) as number)).toEqual([1, 2, 3, 4, 5]);
  });

  it('a loop that learnt to look for few heads (long runs) still serves many new keys, and a head behind its key’s later rows', async () => {
    const queue = await tapQueue('tap.budget');
    const running = relay({ batchSize: 50, maxInFlight: 50, pollIntervalMs: 20 });
    const batches: number[] = [];
    running.on('batch:published', (report) => batches.push(report.claimed));
    await running.start();
    // 150 rows of one key: full batches of one run each, so the loop asks for two heads.
    await db.prisma.$transaction((tx) =>
      outbox.publishMany(
        tx,
        Array.from({ length: 150 }, (_, n) => ({ event: anything, payload: { key: 'long', n }, key: 'long' })),
      ),
    );
    await eventually(async () => (await statuses()).published === 150, 10_000, 'the long key published');
    // Then a head waiting behind its key's later rows (they sort first by available_at),
    // and 200 keys of one row each: with two heads a claim these would take 100 batches.
    await db.pool.query('BEGIN');
    await db.pool.query(
      `INSERT INTO outbox_message (id, event_type, ordering_key, payload, available_at)
       SELECT gen_random_uuid(), 'test.anything', 'late-head', jsonb_build_object('key', 'late-head', 'n', n),
              CASE WHEN n = 0 THEN now() - interval '1 second' ELSE now() - interval '1 hour' END
         FROM generate_series(0, 59) n`,
    );
    await db.pool.query(
      `INSERT INTO outbox_message (id, event_type, ordering_key, payload)
       SELECT gen_random_uuid(), 'test.anything', 'one-' || n, jsonb_build_object('key', 'one-' || n, 'n', 0) FROM generate_series(0, 199) n`,
    );
    await db.pool.query('COMMIT');
    await eventually(async () => (await statuses()).published === 410, 10_000, 'every row published');
    // One short batch to learn the runs got shorter, then full ones: far fewer than 100.
    expect(batches.length).toBeLessThan(3 + 10);
    const byKey = new Map<string, number[]>();
    for (const message of await takeAll(broker.channel, queue)) {
      const { key, n } = JSON.parse(message.content.toString()) as { key: string; n: number };
      byKey.set(key, [...(byKey.get(key) ?? []), n]);
    }
    expect(byKey.get('long')).toEqual([...Array(150).keys()]);
    expect(byKey.get('late-head')).toEqual([...Array(60).keys()]);
    expect(byKey.size).toBe(202);
  });

  it('a row waiting for its retry, or left out of a full batch, holds back the later rows of its key', async () => {
    await db.prisma.$transaction((tx) =>
      outbox.publishMany(tx, [
        { event: anything, payload: 'a1', key: 'a' },
        { event: anything, payload: 'a2', key: 'a' },
        { event: anything, payload: 'b1', key: 'b' },
        { event: anything, payload: 'b2', key: 'b' },
        { event: anything, payload: 'b3', key: 'b' },
      ]),
    );
    // a1 was nacked and waits for its backoff.
    await db.pool.query("UPDATE outbox_message SET available_at = now() + interval '1 hour' WHERE payload = '\"a1\"'");
    // Two rows a batch: b1 and b2 go; b3 must not overtake anything, and goes in the next batch.
    const report = await relay({ batchSize: 2, maxInFlight: 2 }).runOnce();
    expect(report).toMatchObject({ published: 3 });
    const { rows } = await db.pool.query('SELECT payload, status::text FROM outbox_message ORDER BY seq');
    expect(rows).toEqual([
      { payload: 'a1', status: 'pending' },
      { payload: 'a2', status: 'pending' },
      { payload: 'b1', status: 'published' },
      { payload: 'b2', status: 'published' },
      { payload: 'b3', status: 'published' },
    ]);
  });
});

describe('start and stop', () => {
  it('publishes within the poll interval while running; start and stop are idempotent', async () => {
    const queue = await tapQueue('tap.running');
    const running = relay({ pollIntervalMs: 50 });
    await Promise.all([running.start(), running.start()]);
    const id = await db.prisma.$transaction((tx) => outbox.publish(tx, anything, 'live'));
    await eventually(async () => (await statuses()).published === 1, 10_000, 'the live event');
    await Promise.all([running.stop(), running.stop()]);
    expect((await takeAll(broker.channel, queue)).map((message) => message.properties.messageId)).toEqual([id]);
    await running.stop();
  });

  it('wakes up on the writers’ NOTIFY instead of waiting for its next poll', async () => {
    const queue = await tapQueue('tap.wakeup');
    const notifying = createOutbox({ events: testEvents, wakeRelay: true });
    // A poll interval far longer than the test may take: only the wake-up can publish in time.
    const listening = relay({ pollIntervalMs: 60_000, listenForWakeUps: true });
    await listening.start();
    await eventually(
      async () => {
        const { rows } = await db.pool.query(
          "SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name = 'outbox-relay-listener' AND datname = $1",
          [db.name],
        );
        return rows[0].count === 1;
      },
      10_000,
      'the listener',
    );
    // Let the relay's first (empty) poll pass, so it is asleep when the event commits.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const id = await db.prisma.$transaction((tx) => notifying.publish(tx, anything, 'wake up'));
    await eventually(async () => (await statuses()).published === 1, 10_000, 'the notified event');
    expect((await takeAll(broker.channel, queue)).map((message) => message.properties.messageId)).toEqual([id]);
  });

  it('says where each batch’s time went: claim, publish, confirm, settle, commit, within the batch’s own time', async () => {
    await tapQueue('tap.phases');
    await db.prisma.$transaction((tx) =>
      outbox.publishMany(
        tx,
        Array.from({ length: 60 }, (_, index) => ({ event: anything, payload: index })),
      ),
    );
    const profiled = relay({ batchSize: 20, maxInFlight: 20 });
    const reports: RelayBatchReport[] = [];
    profiled.on('batch:published', (report) => reports.push(report));
    const started = performance.now();
    await profiled.runOnce();
    const elapsed = performance.now() - started;
    expect(reports.map((report) => report.claimed)).toEqual([20, 20, 20]);
    for (const { phasesMs } of reports) {
      expect(phasesMs).toEqual({
        claim: expect.any(Number),
        publish: expect.any(Number),
        confirm: expect.any(Number),
        settle: expect.any(Number),
        commit: expect.any(Number),
      });
      const phases = Object.values(phasesMs!);
      expect(phases.every((ms) => ms >= 0)).toBe(true);
      // Each batch's phases follow one another, inside the run.
      expect(phases.reduce((sum, ms) => sum + ms, 0)).toBeLessThanOrEqual(elapsed);
    }
  });

  it('keeps under maxPublishRate when draining a backlog', async () => {
    await db.prisma.$transaction((tx) =>
      outbox.publishMany(
        tx,
        Array.from({ length: 40 }, (_, index) => ({ event: anything, payload: index })),
      ),
    );
    const started = performance.now();
    const report = await relay({ maxPublishRate: 20 }).runOnce();
    expect(report.published).toBe(40);
    // 40 messages at 20/s with a one-second burst allowance take at least a second
    // (a lower bound: a slow machine only makes it longer).
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('rejects bad options with OUTBOX_INVALID_OPTIONS', () => {
    expect(() => createRelay({ amqpUrl: broker.url })).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_OPTIONS' }));
    expect(() => createRelay({ databaseUrl: db.url, amqpUrl: broker.url, batchSize: 0 })).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_OPTIONS' }));
    expect(() => createRelay({ databaseUrl: db.url, amqpUrl: 'http://nope' })).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_CONFIG' }));
  });
});
