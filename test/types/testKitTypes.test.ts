// What the compiler says about the test kit: `npm run typecheck` enforces this file (an
// `expectTypeOf` that does not hold, or a `@ts-expect-error` line that compiles, fails
// it). The harnesses are never made here: the functions below are only type-checked. The
// runtime assertions check that what the types promise of payload matching holds.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import { createOutbox, defineConfig, defineEvent } from '../../src/index.js';
import {
  createTestHarness,
  expectHandled,
  expectPublished,
  matchesPayload,
  type InMemoryTestHarness,
  type RabbitTestHarness,
  type TestHarness,
} from '../../src/testing/index.js';

const orderPlaced = defineEvent('order.placed', z.object({ orderId: z.string(), lines: z.array(z.object({ sku: z.string(), quantity: z.number() })) }));
const stray = defineEvent('stray.event', z.object({ x: z.number() }));
const outbox = createOutbox({ events: [orderPlaced] });
type Events = typeof outbox.catalog.events;
/** The app's config, as its outbox.config.ts would make it (only type-checked here: no client is made). */
const configFor = (prisma: PrismaClient) =>
  defineConfig({
    outbox,
    consumers: [outbox.consumers<Prisma.TransactionClient>()({ name: 'confirm', events: ['order.placed'], handle: async () => {} })],
    prisma,
  });

export async function modes(prisma: PrismaClient, mode: 'in-memory' | 'rabbitmq') {
  const config = configFor(prisma);
  expectTypeOf(await createTestHarness({ config, mode: 'in-memory' })).toEqualTypeOf<InMemoryTestHarness<Events>>();
  expectTypeOf(await createTestHarness({ config })).toEqualTypeOf<RabbitTestHarness<Events>>();
  // A mode chosen at run time: the API both modes share.
  expectTypeOf(await createTestHarness({ config, mode })).toEqualTypeOf<TestHarness<Events>>();
  const rabbit = await createTestHarness({ config });
  // @ts-expect-error the clock is the in-memory harness's
  rabbit.clock.advance(1000);
  // @ts-expect-error delivery orders are the in-memory harness's
  await rabbit.drain({ order: 'reverse' });
}

export async function views(harness: InMemoryTestHarness<Events>) {
  const [placed] = await harness.published(orderPlaced);
  expectTypeOf(placed!.payload).toEqualTypeOf<{ orderId: string; lines: { sku: string; quantity: number }[] }>();
  const [handled] = await harness.handled('confirm', orderPlaced);
  expectTypeOf(handled!.attempts).toEqualTypeOf<number>();
  expectTypeOf(handled!.doneAt).toEqualTypeOf<Date>();
  // @ts-expect-error not an event of the harness's catalog
  await harness.published(stray);
}

export async function assertions(harness: InMemoryTestHarness<Events>) {
  const [match] = await expectPublished(harness, orderPlaced, { orderId: 'o-1' });
  expectTypeOf(match!.payload.orderId).toEqualTypeOf<string>();
  // Array items match on the keys given, like objects.
  await expectPublished(harness, orderPlaced, { lines: [{ sku: 'mug' }] });
  // @ts-expect-error not an event of the harness's catalog
  await expectPublished(harness, stray, { x: 1 });
  // @ts-expect-error a payload key the event does not have
  await expectHandled(harness, 'confirm', orderPlaced, { orderID: 'o-1' });
}

describe('payload matching', () => {
  it('matches objects on the keys given and arrays item by item, as the types say', () => {
    const payload = { orderId: 'o-1', lines: [{ sku: 'mug', quantity: 2 }] };
    expect(matchesPayload(payload, { lines: [{ sku: 'mug' }] })).toBe(true);
    expect(matchesPayload(payload, { lines: [{ sku: 'lamp' }] })).toBe(false);
    expect(matchesPayload(payload, { lines: [] })).toBe(false);
    expect(matchesPayload(payload, { orderId: 'o-1' })).toBe(true);
    expect(matchesPayload(payload, { orderId: 'o-2' })).toBe(false);
  });
});
