// The demo shop's side effects, tested as an app using the outbox would test its own:
// with the test kit in in-memory mode (no broker), the real inbox in PostgreSQL, and
// the third parties faked in memory. The endpoints write; drain() runs the consumers.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestHarness,
  expectDeadLettered,
  expectHandled,
  expectNotPublished,
  expectPublished,
  type InMemoryTestHarness,
} from '../../src/testing/index.js';
import { DECLINED_CARD, DISCONTINUED_SKU, INITIAL_STOCK } from '../../examples/shop/catalog.js';
import { shopConsumers } from '../../examples/shop/consumers.js';
import { placeOrder, PaymentDeclinedError, signUp, type OrderLine } from '../../examples/shop/endpoints.js';
import { orderPlaced, userSignedUp } from '../../examples/shop/events.js';
import { stockWarehouse } from '../../examples/shop/inventory.js';
import { outbox } from '../../examples/shop/outbox.js';
import { captureLogs } from '../support/captureLogs.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { createFakeProviders } from './fakeProviders.js';

let db: TestDatabase;
let harness: InMemoryTestHarness<typeof outbox.catalog.events>;
const providers = createFakeProviders();
const alerts = captureLogs('error');

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  await stockWarehouse(db.prisma);
  harness = await createTestHarness({
    mode: 'in-memory',
    config: { outbox, consumers: shopConsumers({ logger: alerts.logger, callProvider: providers.call }), prisma: db.prisma },
  });
});
afterEach(async () => {
  await harness.drain();
  await harness.reset();
  providers.clear();
  alerts.lines.length = 0;
});
afterAll(async () => {
  await harness?.stop();
  await db?.drop();
});

async function newCustomer() {
  const user = await signUp(db.prisma, { email: `${randomUUID()}@example.com`, name: 'Ada' }, `req-${randomUUID()}`);
  await harness.drain();
  await harness.reset();
  providers.clear();
  return user;
}

async function stockOf(sku: string): Promise<number> {
  const item = await db.prisma.inventoryItem.findUniqueOrThrow({ where: { sku } });
  return item.available;
}

const order = (userId: string, lines: OrderLine[], card = 'tok_visa') => placeOrder(db.prisma, { userId, lines, card }, `req-${randomUUID()}`);

describe('signing up', () => {
  it('publishes user.signed-up; its consumers create the profile, log it and send the welcome email once', async () => {
    const requestId = `req-${randomUUID()}`;
    const user = await signUp(db.prisma, { email: `${randomUUID()}@example.com`, name: 'Grace' }, requestId);
    const [event] = await expectPublished(harness, userSignedUp, { userId: user.id }, { times: 1 });
    expect(event).toMatchObject({ orderingKey: user.id, correlationId: requestId });

    await harness.drain();
    expect(await db.prisma.profile.findUnique({ where: { userId: user.id } })).not.toBeNull();
    expect(await db.prisma.signupLog.findMany({ where: { userId: user.id }, select: { messageId: true } })).toEqual([{ messageId: event!.id }]);
    expect(providers.doneBy('email')).toEqual([{ key: `send-welcome-email:${event!.id}`, subject: `welcome:${user.id}`, calls: 1 }]);
    for (const consumer of ['send-welcome-email', 'create-profile', 'log-signup']) await expectHandled(harness, consumer, userSignedUp, { userId: user.id });
  });
});

describe('placing an order', () => {
  it('publishes order.placed; stock is reserved and the three providers called, each once', async () => {
    const user = await newCustomer();
    const placed = await order(user.id, [
      { sku: 'mug', quantity: 2 },
      { sku: 'lamp', quantity: 1 },
    ]);
    await expectPublished(harness, orderPlaced, { orderId: placed.id, userId: user.id });
    const [mugBefore, lampBefore] = [await stockOf('mug'), await stockOf('lamp')];

    await harness.drain();
    expect([await stockOf('mug'), await stockOf('lamp')]).toEqual([mugBefore - 2, lampBefore - 1]);
    expect(await db.prisma.inventoryReservation.count({ where: { orderId: placed.id } })).toBe(2);
    expect(providers.doneBy('email').map((done) => done.subject)).toEqual([`order-confirmation:${placed.id}`]);
    expect(providers.doneBy('analytics').map((done) => done.subject)).toEqual([`order-placed:${placed.id}`]);
    expect(providers.doneBy('webhook').map((done) => done.subject)).toEqual([`order.placed:${placed.id}`]);
  });

  it('a declined card publishes nothing and sets off no side effect', async () => {
    const user = await newCustomer();
    const orderId = randomUUID();
    await expect(
      placeOrder(db.prisma, { orderId, userId: user.id, lines: [{ sku: 'desk', quantity: 1 }], card: DECLINED_CARD }, 'req-declined'),
    ).rejects.toBeInstanceOf(PaymentDeclinedError);
    await expectNotPublished(harness, orderPlaced, { orderId });
    await harness.drain();
    expect(harness.deliveries()).toEqual([]);
    expect(providers.work.size).toBe(0);
  });
});

describe('reserve-inventory is idempotent', () => {
  it('a redelivered order.placed reserves nothing twice', async () => {
    const user = await newCustomer();
    const placed = await order(user.id, [{ sku: 'chair', quantity: 3 }]);
    await harness.drain();
    const after = await stockOf('chair');
    const [event] = await harness.published(orderPlaced);
    expect(await harness.deliver('reserve-inventory', event!.id)).toBe('duplicate');
    expect(await stockOf('chair')).toBe(after);
    expect(await db.prisma.inventoryReservation.count({ where: { orderId: placed.id } })).toBe(1);
  });

  it('a worker dying after the reservation but before its commit: redone once, not twice', async () => {
    const user = await newCustomer();
    const before = await stockOf('desk');
    harness.failNext('reserve-inventory', 1, { afterHandler: true });
    const placed = await order(user.id, [{ sku: 'desk', quantity: 4 }]);
    await harness.drain();
    expect(harness.deliveries('reserve-inventory').map((delivery) => delivery.outcome)).toEqual(['retried', 'handled']);
    expect(await stockOf('desk')).toBe(before - 4);
    expect(await db.prisma.inventoryReservation.count({ where: { orderId: placed.id } })).toBe(1);
  });

  it('a discontinued SKU is a poison message: dead-lettered at once, alerted, and no line reserved', async () => {
    const user = await newCustomer();
    const before = await stockOf('mug');
    const placed = await order(user.id, [
      { sku: 'mug', quantity: 1 },
      { sku: DISCONTINUED_SKU, quantity: 1 },
    ]);
    await harness.drain();
    const [dead] = await expectDeadLettered(harness, 'reserve-inventory', orderPlaced, { orderId: placed.id });
    expect(dead).toMatchObject({ attempts: 1, error: `NonRetryableError: SKU ${DISCONTINUED_SKU} is not stocked` });
    expect(await stockOf('mug')).toBe(before);
    expect(alerts.lines).toEqual([expect.objectContaining({ alert: 'poison-message', consumer: 'reserve-inventory', messageId: dead!.id })]);
    // The order's other side effects are not held up by it.
    await expectHandled(harness, 'send-order-confirmation', orderPlaced, { orderId: placed.id });
  });
});

describe('external providers', () => {
  it('a provider failing three times: retried after the shop delays (500 ms, 2 s, 5 s), sent once', async () => {
    const user = await newCustomer();
    providers.failNext('email', 3);
    const startedAt = harness.clock.now().getTime();
    const placed = await order(user.id, [{ sku: 'mug', quantity: 1 }]);
    await harness.drain();
    expect(harness.deliveries('send-order-confirmation').map((delivery) => delivery.outcome)).toEqual(['retried', 'retried', 'retried', 'handled']);
    expect(harness.clock.now().getTime() - startedAt).toBeGreaterThanOrEqual(500 + 2_000 + 5_000);
    const [handled] = await expectHandled(harness, 'send-order-confirmation', orderPlaced, { orderId: placed.id });
    expect(handled!.attempts).toBe(4);
    expect(providers.doneBy('email')).toEqual([expect.objectContaining({ subject: `order-confirmation:${placed.id}`, calls: 1 })]);
  });

  it('a provider that did the work but whose answer was lost is called again with the same key: the work is done once', async () => {
    const user = await newCustomer();
    providers.failNext('webhook', 1, 'after-work');
    const placed = await order(user.id, [{ sku: 'lamp', quantity: 1 }]);
    await harness.drain();
    expect(providers.doneBy('webhook')).toEqual([expect.objectContaining({ subject: `order.placed:${placed.id}`, calls: 2 })]);
  });

  it('a provider down for good: dead-lettered after the shop maxAttempts (8), alerted; the other side effects done', async () => {
    const user = await newCustomer();
    providers.down('analytics');
    const placed = await order(user.id, [{ sku: 'mug', quantity: 1 }]);
    await harness.drain();
    const [dead] = await expectDeadLettered(harness, 'record-analytics', orderPlaced, { orderId: placed.id });
    expect(dead).toMatchObject({ attempts: 8, error: 'ProviderError: analytics is down' });
    expect(alerts.lines.map((line) => line.consumer)).toEqual(['record-analytics']);
    for (const consumer of ['send-order-confirmation', 'reserve-inventory', 'notify-webhook'])
      await expectHandled(harness, consumer, orderPlaced, { orderId: placed.id });
    expect(await stockOf('mug')).toBeLessThan(INITIAL_STOCK);
  });
});
