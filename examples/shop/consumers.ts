// The shop's side effects, one consumer (one durable queue) each. Database effects
// are written through `tx`, in the inbox's transaction: exactly once. External
// ones hand the provider the idempotency key: at least once, deduplicated there.
import { pino, type Logger } from 'pino';
import { z } from 'zod';
import type { Prisma } from '../../generated/prisma/client.js';
import type { ConsumerDefinition, DeadLetter } from '../../src/index.js';
import { shopEvents, type ShopEvents } from './events.js';
import { reserveStock } from './inventory.js';
import { defineConsumer } from './outbox.js';
import { callProvider, type CallProvider } from './providers.js';

export interface ShopConsumerOptions {
  logger: Logger;
  /**
   * For the demo's self-test only: each handler deletes its own inbox row, as if
   * the inbox did not exist, so redeliveries run the side effect again. The
   * demo's checks must then fail.
   */
  breakInbox?: boolean;
  /** How the external side effects reach their providers. Default: over HTTP (PROVIDERS_URL); tests hand in a fake. */
  callProvider?: CallProvider;
}

// What an order row's `lines` column holds (JSON, written by placeOrder).
const orderLinesSchema = z.array(z.object({ sku: z.string(), quantity: z.number().int() }));

export function shopConsumers(options: ShopConsumerOptions): ShopConsumer[] {
  const call = options.callProvider ?? callProvider;
  const shared = {
    // Short delays so the demo's retries finish within the run; 8 attempts ride out a ~20 s outage.
    retryDelays: [500, 2_000, 5_000],
    maxAttempts: 8,
    onDeadLetter(letter: DeadLetter) {
      options.logger.error({ alert: 'poison-message', ...letter }, `ALERT: ${letter.consumer} gave up on message ${letter.messageId}: ${letter.error}`);
    },
  };

  const consumers = [
    defineConsumer({
      name: 'send-welcome-email',
      events: ['user.signed-up'],
      concurrency: 8,
      ...shared,
      async handle({ event, tx, idempotencyKey }) {
        const { userId } = event.payload;
        await tx.user.findUniqueOrThrow({ where: { id: userId }, select: { email: true } });
        await call('email', `welcome:${userId}`, idempotencyKey);
      },
    }),
    defineConsumer({
      name: 'create-profile',
      events: ['user.signed-up'],
      concurrency: 4,
      ...shared,
      async handle({ event, tx }) {
        await tx.profile.create({ data: { userId: event.payload.userId } });
      },
    }),
    defineConsumer({
      name: 'log-signup',
      events: ['user.signed-up'],
      concurrency: 4,
      ...shared,
      async handle({ event, tx, messageId }) {
        await tx.signupLog.create({ data: { userId: event.payload.userId, messageId } });
      },
    }),
    defineConsumer({
      name: 'send-order-confirmation',
      events: ['order.placed'],
      concurrency: 8,
      ...shared,
      async handle({ event, tx, idempotencyKey }) {
        const { orderId } = event.payload;
        await tx.order.findUniqueOrThrow({ where: { id: orderId }, select: { id: true } });
        await call('email', `order-confirmation:${orderId}`, idempotencyKey);
      },
    }),
    defineConsumer({
      name: 'reserve-inventory',
      events: ['order.placed'],
      concurrency: 4,
      ...shared,
      async handle({ event, tx }) {
        const { orderId } = event.payload;
        const order = await tx.order.findUniqueOrThrow({ where: { id: orderId }, select: { lines: true } });
        await reserveStock(tx, orderId, orderLinesSchema.parse(order.lines));
      },
    }),
    defineConsumer({
      name: 'record-analytics',
      events: ['order.placed'],
      concurrency: 8,
      ...shared,
      async handle({ event, idempotencyKey }) {
        await call('analytics', `order-placed:${event.payload.orderId}`, idempotencyKey);
      },
    }),
    defineConsumer({
      name: 'notify-webhook',
      events: ['order.placed'],
      concurrency: 8,
      ...shared,
      async handle({ event, idempotencyKey }) {
        await call('webhook', `order.placed:${event.payload.orderId}`, idempotencyKey);
      },
    }),
  ];
  return options.breakInbox ? consumers.map(breakingInbox) : consumers;
}

/** Any of the shop's consumers, whatever events it subscribes to. */
type ShopConsumer = ConsumerDefinition<ShopEvents, Prisma.TransactionClient>;

/** The demo's self-test: the consumer deletes its inbox row after its side effect, as if there were no inbox. */
function breakingInbox(consumer: ShopConsumer): ShopConsumer {
  return {
    ...consumer,
    async handle(context) {
      await consumer.handle(context);
      await context.tx.$executeRaw`DELETE FROM outbox_inbox WHERE consumer = ${consumer.name} AND message_id = ${context.messageId}::uuid`;
    },
  };
}

const described = shopConsumers({ logger: pino({ level: 'silent' }) });
export const SHOP_CONSUMER_NAMES: readonly string[] = described.map((consumer) => consumer.name);
/** Side effects owed per event: how many consumers subscribe to each type (every shop consumer names its event types exactly). */
export const SIDE_EFFECTS_PER_EVENT: Readonly<Record<string, number>> = Object.fromEntries(
  shopEvents.map((event) => [event.type, described.filter((consumer) => consumer.events.some((pattern) => pattern === event.type)).length]),
);
