// The test kit's own tests, both modes: a small app with three consumers. Each writes
// its side effect through `tx` (kit_effect, one row per run of its handler that
// committed) and counts its calls to an "external provider" by idempotency key, the way
// a real handler hands a provider the key.
import { z } from 'zod';
import { createOutbox, defineEvent, outsideTransaction } from '../../src/index.js';
import type { TestDatabase } from '../support/testDatabase.js';

export const itemAdded = defineEvent('cart.item-added', z.object({ cartId: z.string(), sku: z.string(), quantity: z.number().int().positive() }));
export const cartCheckedOut = defineEvent('cart.checked-out', z.object({ cartId: z.string() }));
export const kitEvents = [itemAdded, cartCheckedOut] as const;

export const kitOutbox = createOutbox({ events: kitEvents });
type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];
const defineConsumer = kitOutbox.consumers<Tx>();

export interface KitApp {
  /** Provider calls by idempotency key (outside any transaction: a rollback does not take them back). */
  providerCalls: Map<string, number>;
  /** The order each consumer's handler saw events in (committed or not). */
  seen: Map<string, string[]>;
  consumers: ReturnType<typeof kitConsumers>;
}

export function kitConsumers(app: Pick<KitApp, 'providerCalls' | 'seen'>, options: { maxAttempts?: number; retryDelays?: number[] } = {}) {
  const saw = (consumer: string, id: string) => app.seen.set(consumer, [...(app.seen.get(consumer) ?? []), id]);
  const limits = { maxAttempts: options.maxAttempts ?? 3, retryDelays: options.retryDelays ?? [1_000, 5_000] };
  return [
    defineConsumer({
      name: 'record-item',
      events: ['cart.item-added'],
      ...limits,
      async handle({ event, tx, messageId }) {
        saw('record-item', messageId);
        await tx.$executeRaw`INSERT INTO kit_effect (consumer, message_id, detail) VALUES ('record-item', ${messageId}::uuid, ${event.payload.sku})`;
      },
    }),
    defineConsumer({
      name: 'notify-checkout',
      events: ['cart.checked-out'],
      ...limits,
      async handle({ tx, messageId, idempotencyKey }) {
        saw('notify-checkout', messageId);
        app.providerCalls.set(idempotencyKey, (app.providerCalls.get(idempotencyKey) ?? 0) + 1);
        await tx.$executeRaw`INSERT INTO kit_effect (consumer, message_id, detail) VALUES ('notify-checkout', ${messageId}::uuid, ${idempotencyKey})`;
      },
    }),
    defineConsumer({
      name: 'ship-cart',
      events: ['cart.*'],
      ...limits,
      // A slow provider's consumer: no transaction held during the call.
      handle: outsideTransaction(async ({ event, messageId, idempotencyKey, complete }) => {
        saw('ship-cart', messageId);
        app.providerCalls.set(idempotencyKey, (app.providerCalls.get(idempotencyKey) ?? 0) + 1);
        await complete(async (tx) => {
          await tx.$executeRaw`INSERT INTO kit_effect (consumer, message_id, detail) VALUES ('ship-cart', ${messageId}::uuid, ${event.type})`;
        });
      }),
    }),
  ];
}

export function createKitApp(options: Parameters<typeof kitConsumers>[1] = {}): KitApp {
  const app = { providerCalls: new Map<string, number>(), seen: new Map<string, string[]>() };
  return { ...app, consumers: kitConsumers(app, options) };
}

export async function createEffectTable(db: TestDatabase): Promise<void> {
  await db.pool.query('CREATE TABLE IF NOT EXISTS kit_effect (id bigserial PRIMARY KEY, consumer text NOT NULL, message_id uuid NOT NULL, detail text)');
}

/** Committed side effects of `consumer` (for one message). */
export async function effectCount(db: TestDatabase, consumer: string, messageId?: string): Promise<number> {
  const { rows } = await db.pool.query<{ count: number }>(
    'SELECT count(*)::int AS count FROM kit_effect WHERE consumer = $1 AND ($2::uuid IS NULL OR message_id = $2::uuid)',
    [consumer, messageId ?? null],
  );
  return rows[0]!.count;
}

/** Adds an item and checks out, in one transaction each, as the app's endpoints would. */
export async function addItem(db: TestDatabase, cartId: string, sku: string, quantity = 1, options: { availableAt?: Date; key?: string } = {}) {
  return db.prisma.$transaction((tx) => kitOutbox.publish(tx, itemAdded, { cartId, sku, quantity }, options));
}
export async function checkOut(db: TestDatabase, cartId: string) {
  return db.prisma.$transaction((tx) => kitOutbox.publish(tx, cartCheckedOut, { cartId }, { key: cartId }));
}
