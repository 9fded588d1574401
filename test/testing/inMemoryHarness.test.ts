// The test kit in in-memory mode: the consumers run from the committed outbox rows,
// through the real inbox, on the harness's clock.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isOutboxError, NonRetryableError, type DeadLetter } from '../../src/index.js';
import {
  createTestHarness,
  expectDeadLettered,
  expectHandled,
  expectNotPublished,
  expectPublished,
  InjectedFailure,
  type InMemoryTestHarness,
} from '../../src/testing/index.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { addItem, cartCheckedOut, checkOut, createEffectTable, createKitApp, effectCount, itemAdded, kitEvents, kitOutbox, type KitApp } from './kitFixture.js';

let db: TestDatabase;
let app: KitApp;
let harness: InMemoryTestHarness<typeof kitEvents>;
const deadLetters: DeadLetter[] = [];

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  await createEffectTable(db);
  app = createKitApp();
  harness = await createTestHarness({
    mode: 'in-memory',
    config: { outbox: kitOutbox, consumers: app.consumers, prisma: db.prisma },
    onDeadLetter: (letter) => void deadLetters.push(letter),
  });
});
afterEach(async () => {
  // What a test left undelivered is delivered now, so the next starts from a clean slate.
  await harness.drain();
  await harness.reset();
  app.providerCalls.clear();
  app.seen.clear();
  deadLetters.length = 0;
});
afterAll(async () => {
  await harness?.stop();
  await db?.drop();
});

describe('published()', () => {
  it('lists what the app committed, typed, and nothing a rolled-back transaction wrote', async () => {
    const cartId = randomUUID();
    const id = await addItem(db, cartId, 'mug', 2);
    await expect(
      db.prisma.$transaction(async (tx) => {
        await kitOutbox.publish(tx, itemAdded, { cartId, sku: 'lamp', quantity: 1 });
        throw new Error('the endpoint failed after its publish');
      }),
    ).rejects.toThrow('the endpoint failed');

    const published = await harness.published(itemAdded);
    expect(published).toEqual([
      expect.objectContaining({ id, type: 'cart.item-added', version: 1, payload: { cartId, sku: 'mug', quantity: 2 }, status: 'pending' }),
    ]);
    // Typed by the definition: this line would not compile if payload were unknown.
    expect(published[0]!.payload.quantity).toBe(2);
    const [match] = await expectPublished(harness, itemAdded, { cartId, sku: 'mug' }, { times: 1 });
    expect(match!.id).toBe(id);
    await expectNotPublished(harness, itemAdded, { sku: 'lamp' });
  });

  it('an assertion that fails says what was published instead', async () => {
    const cartId = randomUUID();
    await addItem(db, cartId, 'mug');
    const failure = await expectPublished(harness, itemAdded, { cartId, sku: 'desk' }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'AssertionError', operator: 'expectPublished' });
    expect(String((failure as Error).message)).toContain(`expected cart.item-added (version 1) with a payload matching {"cartId":"${cartId}","sku":"desk"}`);
    expect(String((failure as Error).message)).toContain('"sku":"mug"');
    await expect(expectPublished(harness, itemAdded, { cartId }, { times: 2 })).rejects.toThrow('2 times, found once');
    await expect(expectNotPublished(harness, itemAdded, { cartId })).rejects.toThrow('not to be published, found once');
  });
});

describe('drain()', () => {
  it('runs every owed side effect once, and nothing before it is called', async () => {
    const cartId = randomUUID();
    const added = await addItem(db, cartId, 'mug');
    const checkedOut = await checkOut(db, cartId);
    // Nothing runs between calls: a test sees the state it left.
    expect(await effectCount(db, 'record-item', added)).toBe(0);

    await harness.drain();
    expect(await effectCount(db, 'record-item', added)).toBe(1);
    expect(await effectCount(db, 'notify-checkout', checkedOut)).toBe(1);
    // ship-cart subscribes to cart.*: both events.
    expect([await effectCount(db, 'ship-cart', added), await effectCount(db, 'ship-cart', checkedOut)]).toEqual([1, 1]);
    await expectHandled(harness, 'ship-cart', itemAdded, { cartId }, { times: 1 });
    const [handled] = await expectHandled(harness, 'notify-checkout', cartCheckedOut, { cartId });
    expect(handled).toMatchObject({ attempts: 1, doneAt: expect.any(Date) });
    expect(await harness.published()).toEqual([expect.objectContaining({ status: 'published' }), expect.objectContaining({ status: 'published' })]);
    expect(harness.deliveries().map((delivery) => delivery.outcome)).toEqual(['handled', 'handled', 'handled', 'handled']);

    // Drained: a second drain has nothing to do.
    await harness.drain();
    expect(harness.deliveries()).toHaveLength(4);
  });

  it('leaves nothing owed: every event published, every subscriber done', async () => {
    const carts = Array.from({ length: 20 }, () => randomUUID());
    for (const [index, cartId] of carts.entries()) {
      await addItem(db, cartId, `sku-${index}`);
      if (index % 2 === 0) await checkOut(db, cartId);
    }
    await harness.drain();
    const published = await harness.published();
    expect(published).toHaveLength(30);
    expect(published.every((event) => event.status === 'published')).toBe(true);
    expect(await harness.handled('record-item')).toHaveLength(20);
    expect(await harness.handled('notify-checkout')).toHaveLength(10);
    expect(await harness.handled('ship-cart')).toHaveLength(30);
  });

  it('does not deliver a delayed event until the clock reaches it', async () => {
    const cartId = randomUUID();
    const id = await addItem(db, cartId, 'mug', 1, { availableAt: new Date(Date.now() + 60_000) });
    await harness.drain();
    expect(await harness.handled('record-item')).toEqual([]);
    await harness.clock.advance(30_000);
    expect(await harness.handled('record-item')).toEqual([]);
    await harness.clock.advance(31_000);
    expect((await harness.handled('record-item')).map((event) => event.id)).toEqual([id]);
  });
});

describe('retries, on the harness clock', () => {
  it('a failing handler is retried after its delays, counted, and done once', async () => {
    const cartId = randomUUID();
    const id = await addItem(db, cartId, 'mug');
    harness.failNext('record-item', 2);
    const startedAt = harness.clock.now().getTime();

    await harness.runDue();
    expect(harness.deliveries('record-item').map((delivery) => delivery.outcome)).toEqual(['retried']);
    // The first retry is 1000 ms away on the harness's clock: not a millisecond earlier.
    await harness.clock.advance(999);
    expect(harness.deliveries('record-item')).toHaveLength(1);
    await harness.clock.advance(1);
    expect(harness.deliveries('record-item').map((delivery) => delivery.outcome)).toEqual(['retried', 'retried']);

    // drain() moves the clock past the second delay (5000 ms) by itself.
    await harness.drain();
    expect(harness.deliveries('record-item').map((delivery) => delivery.outcome)).toEqual(['retried', 'retried', 'handled']);
    expect(harness.clock.now().getTime() - startedAt).toBeGreaterThanOrEqual(6_000);
    const [handled] = await expectHandled(harness, 'record-item', itemAdded, { cartId });
    expect(handled).toMatchObject({ id, attempts: 3 });
    expect(await effectCount(db, 'record-item', id)).toBe(1);
  });

  it('a handler failing every attempt is dead-lettered after maxAttempts, reported once', async () => {
    const cartId = randomUUID();
    const id = await checkOut(db, cartId);
    harness.failNext('notify-checkout', 10, { messageId: id });
    await harness.drain();
    expect(harness.deliveries('notify-checkout').map((delivery) => delivery.outcome)).toEqual(['retried', 'retried', 'dead-lettered']);
    const [dead] = await expectDeadLettered(harness, 'notify-checkout', cartCheckedOut, { cartId });
    expect(dead).toMatchObject({ id, attempts: 3 });
    expect(dead!.error).toContain('InjectedFailure: failure injected by the test harness into notify-checkout (attempt 3)');
    expect(deadLetters).toEqual([expect.objectContaining({ consumer: 'notify-checkout', messageId: id, attempts: 3, reason: 'handler-failed' })]);
    expect(await harness.handled('notify-checkout')).toEqual([]);
    // The other consumers of the event were not held up by it.
    await expectHandled(harness, 'ship-cart', cartCheckedOut, { cartId });
  });

  it('a NonRetryableError goes to the dead letters at once', async () => {
    const id = await addItem(db, randomUUID(), 'discontinued');
    harness.failNext('record-item', 1, { error: new NonRetryableError('SKU discontinued is not stocked') });
    await harness.drain();
    expect(harness.deliveries('record-item').map((delivery) => delivery.outcome)).toEqual(['dead-lettered']);
    expect(await harness.deadLetters('record-item')).toEqual([
      expect.objectContaining({ id, attempts: 1, error: 'NonRetryableError: SKU discontinued is not stocked' }),
    ]);
    expect(deadLetters).toEqual([expect.objectContaining({ reason: 'non-retryable' })]);
  });
});

describe('idempotency helpers', () => {
  it('a second delivery of a done message is a duplicate: the side effect stays done once', async () => {
    const id = await addItem(db, randomUUID(), 'mug');
    await harness.drain();
    expect(await harness.deliver('record-item', id)).toBe('duplicate');
    expect(await harness.deliver('ship-cart', id)).toBe('duplicate');
    expect(await effectCount(db, 'record-item', id)).toBe(1);
    expect(await effectCount(db, 'ship-cart', id)).toBe(1);
    expect(app.seen.get('record-item')).toEqual([id]);
  });

  it('a failure after the handler rolls back its writes; the retry calls the provider again with the same key', async () => {
    const id = await checkOut(db, randomUUID());
    harness.failNext('notify-checkout', 1, { afterHandler: true });
    await harness.drain();
    expect(harness.deliveries('notify-checkout').map((delivery) => delivery.outcome)).toEqual(['retried', 'handled']);
    // The handler ran twice; its transactional write committed once; the provider was
    // called twice with one key (the provider must deduplicate: the handler gave it the key).
    expect(app.seen.get('notify-checkout')).toEqual([id, id]);
    expect(await effectCount(db, 'notify-checkout', id)).toBe(1);
    expect([...app.providerCalls.entries()].filter(([key]) => key.startsWith('notify-checkout:'))).toEqual([[`notify-checkout:${id}`, 2]]);
  });

  it('reversed and shuffled delivery orders reach every consumer, each event once', async () => {
    const cartId = randomUUID();
    const ids = [await addItem(db, cartId, 'a'), await addItem(db, cartId, 'b'), await addItem(db, cartId, 'c')];
    await harness.drain({ order: 'reverse' });
    expect(app.seen.get('record-item')).toEqual([...ids].reverse());
    await harness.reset();
    app.seen.clear();

    const more = [await addItem(db, cartId, 'd'), await addItem(db, cartId, 'e'), await addItem(db, cartId, 'f'), await addItem(db, cartId, 'g')];
    await harness.drain({ order: 'shuffle', seed: 7 });
    const seen = app.seen.get('record-item')!;
    expect([...seen].sort()).toEqual([...more].sort());
    expect(seen).not.toEqual(more);
  });

  it('failNext names a consumer of the harness', () => {
    let thrown: unknown;
    try {
      harness.failNext('no-such-consumer', 1);
    } catch (error) {
      thrown = error;
    }
    expect(isOutboxError(thrown, 'OUTBOX_INVALID_OPTIONS')).toBe(true);
    expect(new InjectedFailure('x').name).toBe('InjectedFailure');
  });
});

describe('misuse gets a clear answer', () => {
  it('an outsideTransaction handler failing after its call: the provider is called again with the same key, the effect done once', async () => {
    const id = await checkOut(db, randomUUID());
    harness.failNext('ship-cart', 1, { afterHandler: true });
    await harness.drain();
    expect(harness.deliveries('ship-cart').map((delivery) => delivery.outcome)).toEqual(['retried', 'handled']);
    expect(app.providerCalls.get(`ship-cart:${id}`)).toBe(2);
    expect(await effectCount(db, 'ship-cart', id)).toBe(1);
  });

  it('a consumer name the harness does not run, and a message id that is not one, are typed errors', async () => {
    for (const call of [
      () => harness.handled('record-items'),
      () => harness.deadLetters('nope'),
      () => harness.parked('nope'),
      () => harness.deliver('record-item', 'not-a-uuid'),
    ]) {
      const failure = await call().catch((error: unknown) => error);
      expect(isOutboxError(failure, 'OUTBOX_INVALID_OPTIONS'), String(failure)).toBe(true);
    }
    expect(() => harness.deliveries('record-items')).toThrow("is not one of the harness's consumers (record-item, notify-checkout, ship-cart)");
  });

  it('expectHandled before drain() says the event was published and not drained yet', async () => {
    const cartId = randomUUID();
    await addItem(db, cartId, 'mug');
    await expect(expectHandled(harness, 'record-item', itemAdded, { cartId })).rejects.toThrow('1 matching event(s) were published: drain() first');
  });

  it('a handler that never resolves fails the drain at its deadline instead of hanging the test', async () => {
    let release!: () => void;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const hanging = kitOutbox.consumers<Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0]>()({
      name: 'hanging',
      events: ['cart.checked-out'],
      handle: () => stuck,
    });
    const otherDb = await createTestDatabase(import.meta.url);
    const hangingHarness = await createTestHarness({
      mode: 'in-memory',
      config: { events: kitEvents, consumers: [hanging], prisma: otherDb.prisma },
      drainTimeoutMs: 300,
    });
    try {
      const id = await checkOut(otherDb, randomUUID());
      const failure = await hangingHarness.drain().catch((error: unknown) => error);
      expect(isOutboxError(failure, 'OUTBOX_DRAIN_TIMEOUT')).toBe(true);
      expect((failure as Error).message).toContain(`hanging was still handling cart.checked-out ${id} at the end of the drain's 300 ms`);
    } finally {
      release();
      await hangingHarness.drain();
      await hangingHarness.stop();
      await otherDb.drop();
    }
  });

  it('a stopped harness says so', async () => {
    const otherDb = await createTestDatabase(import.meta.url);
    const stopped = await createTestHarness({ mode: 'in-memory', config: { events: kitEvents, consumers: app.consumers, prisma: otherDb.prisma } });
    await stopped.stop();
    await stopped.stop();
    for (const call of [() => stopped.published(), () => stopped.drain(), () => stopped.handled('record-item')]) {
      await expect(call()).rejects.toThrow('the test harness is stopped');
    }
    await otherDb.drop();
  });
});

describe('one harness per database', () => {
  it('a second harness on the same database is refused while the first runs, and welcome once it stopped', async () => {
    const config = { outbox: kitOutbox, consumers: app.consumers, prisma: db.prisma };
    const refused = await createTestHarness({ mode: 'in-memory', config }).catch((error: unknown) => error);
    expect(isOutboxError(refused, 'OUTBOX_HARNESS_SETUP_FAILED')).toBe(true);
    expect((refused as Error).message).toContain('another test harness is running on this database (schema public)');
    const alsoRefused = await createTestHarness({ config }).catch((error: unknown) => error);
    expect(isOutboxError(alsoRefused, 'OUTBOX_HARNESS_SETUP_FAILED')).toBe(true);

    await harness.stop();
    const next = await createTestHarness({ mode: 'in-memory', config });
    await next.stop();
    // Stopped, a harness holds nothing open on the database: its claim's transaction is over.
    const { rows } = await db.pool.query<{ count: number }>(
      "SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    );
    expect(rows[0]!.count).toBe(0);
    harness = await createTestHarness({ mode: 'in-memory', config, onDeadLetter: (letter) => void deadLetters.push(letter) });
  });
});

describe('reset()', () => {
  it('starts a new scope: earlier events and deliveries are forgotten', async () => {
    await addItem(db, randomUUID(), 'mug');
    await harness.drain();
    expect(await harness.published()).toHaveLength(1);
    await harness.reset();
    expect(await harness.published()).toEqual([]);
    expect(harness.deliveries()).toEqual([]);
    expect(await harness.handled('record-item')).toEqual([]);
  });
});

describe('ordered consumers', () => {
  it('see each key in write order whatever order the deliveries arrive in (held, then released)', async () => {
    const seen: string[] = [];
    const ordered = kitOutbox.consumers<Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0]>()({
      name: 'ordered-items',
      events: ['cart.item-added'],
      ordered: true,
      async handle({ event }) {
        seen.push(`${event.payload.cartId}:${event.payload.sku}`);
      },
    });
    // A database of its own: one harness per database at a time.
    const orderedDb = await createTestDatabase(import.meta.url);
    const orderedHarness = await createTestHarness({ mode: 'in-memory', config: { events: kitEvents, consumers: [ordered], prisma: orderedDb.prisma } });
    const db = orderedDb;
    try {
      const [cartA, cartB] = [randomUUID(), randomUUID()];
      for (const sku of ['1', '2', '3']) {
        await addItem(db, cartA, sku, 1, { key: cartA });
        await addItem(db, cartB, sku, 1, { key: cartB });
      }
      await orderedHarness.drain({ order: 'reverse' }).catch((e) => {
        console.log(JSON.stringify(orderedHarness.deliveries(), null, 0));
        throw e;
      });
      expect(seen.filter((entry) => entry.startsWith(cartA))).toEqual(['1', '2', '3'].map((sku) => `${cartA}:${sku}`));
      expect(seen.filter((entry) => entry.startsWith(cartB))).toEqual(['1', '2', '3'].map((sku) => `${cartB}:${sku}`));
      const outcomes = orderedHarness.deliveries().map((delivery) => delivery.outcome);
      expect(outcomes.filter((outcome) => outcome === 'held').length).toBeGreaterThan(0);
      expect(outcomes.filter((outcome) => outcome === 'handled')).toHaveLength(6);
      expect(await orderedHarness.handled('ordered-items')).toHaveLength(6);

      // A message failing for good parks its key: drain settles, the later ones wait parked.
      const cartC = randomUUID();
      orderedHarness.failNext('ordered-items', 1, { error: new NonRetryableError('bad line') });
      await addItem(db, cartC, '1', 1, { key: cartC });
      await addItem(db, cartC, '2', 1, { key: cartC });
      await orderedHarness.drain();
      expect(
        orderedHarness
          .deliveries()
          .slice(-2)
          .map((delivery) => delivery.outcome),
      ).toEqual(['parked', 'parked']);
      expect(seen.filter((entry) => entry.startsWith(cartC))).toEqual([]);
    } finally {
      await orderedHarness.stop();
      await orderedDb.drop();
    }
  });
});
