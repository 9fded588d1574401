// Ordered consumers against the real servers: per-key order at the handler, judged
// from a table the handlers write (not from the library's own tables), through two
// workers, retries, out-of-order and duplicate arrivals, a purged partition queue
// and the reconciler, and parking (retry and skip through the CLI).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import {
  createOutbox,
  createReconciler,
  createRelay,
  createWorker,
  defineConsumer,
  NonRetryableError,
  type ConsumerDefinition,
  type ParkedKey,
  type Relay,
  type Worker,
} from '../../src/index.js';
import { partitionExchangeName, partitionQueueNames } from '../../src/broker/consumerTopology.js';
import { messageProperties } from '../../src/broker/wireFormat.js';
import { STORED_MESSAGE_COLUMNS, type StoredMessage } from '../../src/database/storedMessage.js';
import { testEvents } from '../support/events.js';
import { runOutboxCli } from '../support/runOutboxCli.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];
type Consumer = ConsumerDefinition<typeof testEvents, Tx>;

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const outbox = createOutbox({ events: testEvents });
const running: { stop(): Promise<void> }[] = [];
let consumerCount = 0;

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('ordered')]);
  // What the handlers did, in the order their transactions committed (id from a sequence taken at insert,
  // serialised per key by the key's row lock, so per key it is the commit order).
  await db.pool.query(
    `CREATE TABLE ordered_effect (id bigserial PRIMARY KEY, consumer text NOT NULL, ordering_key text NOT NULL, n int NOT NULL, message_id uuid NOT NULL)`,
  );
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((component) => component.stop()));
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

const uniqueName = (label: string) => `${label}-${(consumerCount += 1)}`;

/** A handler's side effect: one row, in its transaction. */
const recordEffect = (tx: Tx, consumer: string, key: string, n: number, messageId: string) =>
  tx.$executeRaw`INSERT INTO ordered_effect (consumer, ordering_key, n, message_id) VALUES (${consumer}, ${key}, ${n}, ${messageId}::uuid)`;

/** Per key, the n of each handled event in commit order. */
async function effectsByKey(consumer: string): Promise<Map<string, number[]>> {
  const { rows } = await db.pool.query<{ key: string; ns: number[] }>(
    'SELECT ordering_key AS key, array_agg(n ORDER BY id) AS ns FROM ordered_effect WHERE consumer = $1 GROUP BY ordering_key',
    [consumer],
  );
  return new Map(rows.map((row) => [row.key, row.ns]));
}

async function effectCount(consumer: string): Promise<number> {
  const { rows } = await db.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM ordered_effect WHERE consumer = $1', [consumer]);
  return rows[0]!.count;
}

/** Writes `perKey` events for each key, n = 1..perKey per key, interleaving keys, in transactions of `perTransaction`. */
async function writeEvents(keys: string[], perKey: number, perTransaction = 50): Promise<void> {
  const all: { key: string; n: number }[] = [];
  for (let n = 1; n <= perKey; n += 1) for (const key of keys) all.push({ key, n });
  for (let start = 0; start < all.length; start += perTransaction) {
    const slice = all.slice(start, start + perTransaction);
    await db.prisma.$transaction((tx) =>
      outbox.publishMany(
        tx,
        slice.map(({ key, n }) => ({ event: 'test.anything' as const, payload: { key, n }, key })),
      ),
    );
  }
}

async function startWorker(consumer: Consumer, extra: { onParked?: (parked: ParkedKey) => void; workerId?: string; metrics?: Registry } = {}): Promise<Worker> {
  const worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers: [consumer], logger, summaryIntervalMs: 0, ...extra });
  running.push(worker);
  await worker.start();
  return worker;
}

function startRelay(): Relay {
  const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger, pollIntervalMs: 20 });
  running.push(relay);
  void relay.start();
  return relay;
}

const payloadOf = (event: { payload: unknown }) => event.payload as { key: string; n: number; poison?: boolean };

/** Every key's handled n in 1..perKey order, each once. */
function expectInOrder(byKey: Map<string, number[]>, keys: string[], perKey: number): void {
  const expected = Array.from({ length: perKey }, (_, index) => index + 1);
  for (const key of keys) expect(byKey.get(key), `key ${key}`).toEqual(expected);
}

/** An ordered consumer whose handler records each event's (key, n) in ordered_effect; `seen` hears each n first. */
function recordingConsumer(name: string, options: { partitions: number; concurrency?: number; seen?: (n: number) => void }): Consumer {
  return defineConsumer<typeof testEvents, Tx>({
    name,
    events: ['test.anything'],
    ordered: true,
    partitions: options.partitions,
    concurrency: options.concurrency ?? 1,
    async handle({ event, tx, messageId }) {
      const { key, n } = payloadOf(event);
      options.seen?.(n);
      await recordEffect(tx, name, key, n, messageId);
    },
  });
}

/**
 * Registers the consumer (its topology declared, so events written next are owed to
 * it), writes `count` events of `key` and returns them as stored, marked published:
 * the test sends them by hand, and a later test's relay must not send them again.
 */
async function writtenForHand(consumer: Consumer, key: string, count: number): Promise<StoredMessage[]> {
  const worker = await startWorker(consumer);
  await worker.stop();
  await writeEvents([key], count);
  await db.pool.query("UPDATE outbox_message SET status = 'published' WHERE ordering_key = $1", [key]);
  const { rows } = await db.pool.query<StoredMessage>(
    `SELECT ${STORED_MESSAGE_COLUMNS.strings.join('')} FROM outbox_message m WHERE m.ordering_key = $1 ORDER BY m.seq`,
    [key],
  );
  return rows;
}

describe('an ordered consumer', () => {
  it('handles each key in write order, exactly once, across two workers and retries, with keys in parallel', async () => {
    const name = uniqueName('ordered');
    const inProgress = new Set<string>();
    let mostKeysAtOnce = 0;
    const consumer: Consumer = defineConsumer<typeof testEvents, Tx>({
      name,
      events: ['test.anything'],
      ordered: true,
      partitions: 4,
      concurrency: 8,
      retryDelays: [50, 100],
      maxAttempts: 10,
      async handle({ event, tx, messageId, attempt }) {
        const { key, n } = payloadOf(event);
        expect(inProgress.has(key), `key ${key} handled twice at once`).toBe(false);
        inProgress.add(key);
        mostKeysAtOnce = Math.max(mostKeysAtOnce, inProgress.size);
        try {
          await new Promise((resolve) => setTimeout(resolve, n % 3));
          await recordEffect(tx, name, key, n, messageId);
          // Every 7th event of a key fails its first attempt: later events of the key must wait for its retry.
          if (n % 7 === 3 && attempt === 1) throw new Error(`flaky ${key}#${n}`);
        } finally {
          inProgress.delete(key);
        }
      },
    });
    const first = await startWorker(consumer, { workerId: 'worker-a' });
    await startWorker(consumer, { workerId: 'worker-b' });
    const keys = Array.from({ length: 100 }, (_, index) => `order-${index}`);
    const perKey = 20;
    await writeEvents(keys, perKey);
    startRelay();
    // Half-way, the worker holding the partitions stops: the other takes over.
    await eventually(async () => (await effectCount(name)) >= 600, 60_000, 'a third handled');
    await first.stop();
    await eventually(async () => (await effectCount(name)) >= keys.length * perKey, 90_000, 'every event handled');
    // Nothing more comes (no duplicate effects after a pause).
    await new Promise((resolve) => setTimeout(resolve, 300));
    expectInOrder(await effectsByKey(name), keys, perKey);
    expect(await effectCount(name)).toBe(keys.length * perKey);
    expect(mostKeysAtOnce).toBeGreaterThan(1);
    // Every partition queue is drained, and each is single-active-consumer.
    for (const queue of partitionQueueNames({ name, partitions: 4 })) expect((await broker.channel.checkQueue(queue)).messageCount).toBe(0);
  }, 180_000);

  it('holds a message that arrives ahead of its key and runs it after its predecessor; duplicates change nothing', async () => {
    const name = uniqueName('reversed');
    const handled: number[] = [];
    const consumer = recordingConsumer(name, { partitions: 2, concurrency: 4, seen: (n) => handled.push(n) });
    const rows = await writtenForHand(consumer, 'rev', 5);
    // As a broken network and a reconciler might: last first, some twice.
    const exchange = partitionExchangeName(name);
    const channel = await broker.connection.createConfirmChannel();
    for (const message of [...rows].reverse().concat(rows.slice(2, 4))) {
      channel.publish(exchange, '', Buffer.from(message.payload), messageProperties(message, 'test'));
    }
    await channel.waitForConfirms();
    await channel.close();
    await startWorker(consumer);
    await eventually(async () => (await effectCount(name)) >= 5, 20_000, 'the key handled');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expectInOrder(await effectsByKey(name), ['rev'], 5);
    expect(handled).toEqual([1, 2, 3, 4, 5]);
  }, 60_000);

  it('a DLQ replay is order-safe: later events wait for the replayed one, then follow it', async () => {
    const name = uniqueName('replayed');
    const consumer = recordingConsumer(name, { partitions: 2 });
    const rows = await writtenForHand(consumer, 'replay', 3);
    // The first in the DLQ (as the broker's delivery limit leaves it), the others delivered.
    const channel = await broker.connection.createConfirmChannel();
    const [first, ...rest] = rows;
    channel.sendToQueue(`${name}.dlq`, Buffer.from(first!.payload), messageProperties(first!, 'test'));
    for (const message of rest) channel.publish(partitionExchangeName(name), '', Buffer.from(message.payload), messageProperties(message, 'test'));
    await channel.waitForConfirms();
    await channel.close();
    await startWorker(consumer);
    await eventually(
      async () => {
        const { rows: held } = await db.pool.query("SELECT 1 FROM outbox_inbox WHERE consumer = $1 AND status = 'waiting'", [name]);
        return held.length === 2;
      },
      20_000,
      'the later events held',
    );
    expect(await effectCount(name)).toBe(0);
    const replayed = await runOutboxCli(['dlq', 'replay', name, '--all'], { DATABASE_URL: db.url, AMQP_URL: broker.url, LOG_LEVEL: 'warn' });
    expect(replayed.code, replayed.stderr).toBe(0);
    await eventually(async () => (await effectCount(name)) >= 3, 20_000, 'the key handled');
    expectInOrder(await effectsByKey(name), ['replay'], 3);
  }, 60_000);

  it('after a purged partition queue, the reconciler re-schedules what was lost and order still holds', async () => {
    const name = uniqueName('purged');
    const consumer = recordingConsumer(name, { partitions: 3, concurrency: 4 });
    const worker = await startWorker(consumer);
    await worker.stop();
    const keys = Array.from({ length: 20 }, (_, index) => `purge-${index}`);
    await writeEvents(keys, 10);
    const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger });
    await relay.runOnce();
    await relay.stop();
    // Lost: one partition's messages purged, and two others' partly handled first.
    const [lostQueue] = partitionQueueNames({ name, partitions: 3 });
    expect((await broker.channel.checkQueue(lostQueue!)).messageCount).toBeGreaterThan(0);
    await broker.channel.purgeQueue(lostQueue!);
    const reconciler = createReconciler({ databaseUrl: db.url, amqpUrl: broker.url, events: testEvents, consumers: [consumer], graceMs: 0, logger });
    running.push(reconciler);
    await startWorker(consumer);
    await eventually(
      async () => {
        await reconciler.runOnce();
        return (await effectCount(name)) >= keys.length * 10;
      },
      60_000,
      'every event handled',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expectInOrder(await effectsByKey(name), keys, 10);
    expect(await effectCount(name)).toBe(keys.length * 10);
  }, 90_000);

  it('parks a key after a poison event: later events wait, other keys finish; parked retry and skip resume it in order', async () => {
    const name = uniqueName('parking');
    const parked: ParkedKey[] = [];
    let fixed = false;
    const consumer: Consumer = defineConsumer<typeof testEvents, Tx>({
      name,
      events: ['test.anything'],
      ordered: true,
      partitions: 2,
      concurrency: 4,
      retryDelays: [30],
      maxAttempts: 2,
      async handle({ event, tx, messageId }) {
        const { key, n } = payloadOf(event);
        // Fixed by a deploy for "poison-fixable"; never for "poison-skip".
        if (n === 2 && (key === 'poison-skip' || (key === 'poison-fixable' && !fixed))) throw new Error(`cannot handle ${key}#${n}`);
        await recordEffect(tx, name, key, n, messageId);
      },
    });
    const metrics = new Registry();
    await startWorker(consumer, { onParked: (key) => parked.push(key), metrics });
    await writeEvents(['poison-fixable', 'poison-skip', 'healthy'], 5);
    startRelay();

    await eventually(async () => (await effectsByKey(name)).get('healthy')?.length === 5, 30_000, 'the healthy key');
    await eventually(
      async () => {
        const { rows } = await db.pool.query<{ count: number }>(
          `SELECT count(*)::int AS count FROM outbox_inbox i JOIN outbox_message m ON m.id = i.message_id
            WHERE i.consumer = $1 AND i.status = 'parked'`,
          [name],
        );
        return rows[0]!.count === 8;
      },
      30_000,
      'both keys parked with their later events',
    );
    const byKey = await effectsByKey(name);
    expect(byKey.get('poison-fixable')).toEqual([1]);
    expect(byKey.get('poison-skip')).toEqual([1]);
    expect(parked.map((key) => key.orderingKey).sort()).toEqual(['poison-fixable', 'poison-skip']);
    expect(parked[0]).toMatchObject({ consumer: name, attempts: 2, reason: 'handler-failed', eventType: 'test.anything' });

    const env = { DATABASE_URL: db.url, AMQP_URL: broker.url, LOG_LEVEL: 'warn' };
    const listed = await runOutboxCli(['parked', 'list', name, '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = JSON.parse(listed.stdout) as { orderingKey: string; waiting: number; error: string }[];
    expect(rows.map((row) => [row.orderingKey, row.waiting]).sort()).toEqual([
      ['poison-fixable', 3],
      ['poison-skip', 3],
    ]);
    expect(rows[0]!.error).toContain('cannot handle');
    const scraped = await metrics.metrics();
    expect(scraped).toContain(`outbox_consumer_parked_keys{consumer="${name}"} 2`);
    expect(scraped).toMatch(new RegExp(`outbox_consumer_deliveries_total\\{consumer="${name}",outcome="parked"\\} [1-9]`));
    // `outbox status` tells it, with an alert (exit 3), and finds the partition queues by itself (no "queue does not exist" alert).
    const status = await runOutboxCli(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(3);
    const report = JSON.parse(status.stdout) as {
      consumers: { consumer: string; parkedKeys: number; oldestParkedAgeMs: number; queueDepth: number }[];
      alerts: string[];
    };
    expect(report.consumers.find((consumer) => consumer.consumer === name)).toMatchObject({ parkedKeys: 2 });
    expect(report.alerts.filter((alert) => alert.startsWith(`consumer ${name}:`))).toEqual([expect.stringContaining('2 parked key(s)')]);

    fixed = true;
    const retried = await runOutboxCli(['parked', 'retry', name, '--key', 'poison-fixable'], env);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toContain('sent 4 message(s) again');
    await eventually(async () => (await effectsByKey(name)).get('poison-fixable')?.length === 5, 20_000, 'the retried key');
    expectInOrder(await effectsByKey(name), ['poison-fixable'], 5);

    const refused = await runOutboxCli(['parked', 'skip', name, '--key', 'poison-skip'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--reason');
    const skipped = await runOutboxCli(['parked', 'skip', name, '--key', 'poison-skip', '--reason', 'bad data, refunded by hand', '--by', 'ops-anna'], env);
    expect(skipped.code, skipped.stderr).toBe(0);
    await eventually(async () => (await effectsByKey(name)).get('poison-skip')?.length === 4, 20_000, 'the skipped key');
    expect((await effectsByKey(name)).get('poison-skip')).toEqual([1, 3, 4, 5]);
    const { rows: skips } = await db.pool.query('SELECT skipped_by, reason, error FROM outbox_skipped WHERE consumer = $1', [name]);
    expect(skips).toEqual([{ skipped_by: 'ops-anna', reason: 'bad data, refunded by hand', error: expect.stringContaining('cannot handle poison-skip#2') }]);
    const after = await runOutboxCli(['parked', 'list', name], env);
    expect(after.stdout).toContain('no parked keys');
    const notParked = await runOutboxCli(['parked', 'retry', name, '--key', 'healthy'], env);
    expect(notParked.code).toBe(1);
    expect(notParked.stderr).toContain('OUTBOX_NOT_PARKED');
  }, 90_000);

  it('parks a key whose very first event fails for good (its key row rolled back with the attempt); retry resumes it in order', async () => {
    const name = uniqueName('first-poison');
    let fixed = false;
    const consumer: Consumer = defineConsumer<typeof testEvents, Tx>({
      name,
      events: ['test.anything'],
      ordered: true,
      partitions: 2,
      async handle({ event, tx, messageId }) {
        const { key, n } = payloadOf(event);
        if (n === 1 && !fixed) throw new NonRetryableError(`cannot handle ${key}#1`);
        await recordEffect(tx, name, key, n, messageId);
      },
    });
    await startWorker(consumer);
    await writeEvents(['first-poison'], 3);
    startRelay();
    // Not held for ever behind it: parked, all three, and listed as a parked key.
    await eventually(
      async () => {
        const { rows } = await db.pool.query<{ count: number }>("SELECT count(*)::int AS count FROM outbox_inbox WHERE consumer = $1 AND status = 'parked'", [
          name,
        ]);
        return rows[0]!.count === 3;
      },
      20_000,
      'the key parked with its later events',
    );
    const env = { DATABASE_URL: db.url, AMQP_URL: broker.url, LOG_LEVEL: 'warn' };
    const listed = await runOutboxCli(['parked', 'list', name, '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ orderingKey: 'first-poison', waiting: 2 })]);
    fixed = true;
    const retried = await runOutboxCli(['parked', 'retry', name, '--key', 'first-poison'], env);
    expect(retried.code, retried.stderr).toBe(0);
    await eventually(async () => (await effectsByKey(name)).get('first-poison')?.length === 3, 20_000, 'the retried key');
    expectInOrder(await effectsByKey(name), ['first-poison'], 3);
  }, 60_000);
});
