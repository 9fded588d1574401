// The shop's side effects, one consumer (one durable queue) each. Database effects
// are written through `tx`, in the inbox's transaction: exactly once. External
// ones hand the provider the idempotency key: at least once, deduplicated there.
import { pino, type Logger } from 'pino';
import type { Prisma } from '../../generated/prisma/client.js';
import { matchesTopic } from '../../src/consumers/topicPattern.js';
import { defineConsumer, type ConsumerDefinition, type HandlerContext } from '../../src/index.js';
import { shopEvents, type ShopEvents } from './events.js';
import { reserveStock } from './inventory.js';
import { callProvider } from './providers.js';

type Tx = Prisma.TransactionClient;
type Context = HandlerContext<ShopEvents, Tx>;

export interface ShopConsumerOptions {
  logger: Logger;
  /**
   * For the demo's self-test only: each handler deletes its own inbox row, as if
   * the inbox did not exist, so redeliveries run the side effect again. The
   * demo's checks must then fail.
   */
  breakInbox?: boolean;
}

// Short delays so the demo's retries finish within the run; 8 attempts ride out a ~20 s outage.
const RETRY = { retryDelays: [500, 2_000, 5_000], maxAttempts: 8 };

const payloadOf = (context: Context) => context.event.payload as { userId: string; orderId?: string };

export function shopConsumers(options: ShopConsumerOptions): ConsumerDefinition<ShopEvents, Tx>[] {
  const consumer = (name: string, events: string[], concurrency: number, handle: (context: Context) => Promise<void>) =>
    defineConsumer<ShopEvents, Tx>({
      name,
      events,
      concurrency,
      ...RETRY,
      async handle(context) {
        await handle(context);
        if (options.breakInbox) await context.tx.$executeRaw`DELETE FROM outbox_inbox WHERE consumer = ${name} AND message_id = ${context.messageId}::uuid`;
      },
      onDeadLetter(letter) {
        options.logger.error({ alert: 'poison-message', ...letter }, `ALERT: ${letter.consumer} gave up on message ${letter.messageId}: ${letter.error}`);
      },
    });

  return [
    consumer('send-welcome-email', ['user.signed-up'], 8, async (context) => {
      const { userId } = payloadOf(context);
      await context.tx.user.findUniqueOrThrow({ where: { id: userId }, select: { email: true } });
      await callProvider('email', `welcome:${userId}`, context.idempotencyKey);
    }),
    consumer('create-profile', ['user.signed-up'], 4, async (context) => {
      await context.tx.profile.create({ data: { userId: payloadOf(context).userId } });
    }),
    consumer('log-signup', ['user.signed-up'], 4, async (context) => {
      await context.tx.signupLog.create({ data: { userId: payloadOf(context).userId, messageId: context.messageId } });
    }),
    consumer('send-order-confirmation', ['order.placed'], 8, async (context) => {
      const orderId = payloadOf(context).orderId!;
      await context.tx.order.findUniqueOrThrow({ where: { id: orderId }, select: { id: true } });
      await callProvider('email', `order-confirmation:${orderId}`, context.idempotencyKey);
    }),
    consumer('reserve-inventory', ['order.placed'], 4, async (context) => {
      const orderId = payloadOf(context).orderId!;
      const order = await context.tx.order.findUniqueOrThrow({ where: { id: orderId }, select: { lines: true } });
      await reserveStock(context.tx, orderId, order.lines as { sku: string; quantity: number }[]);
    }),
    consumer('record-analytics', ['order.placed'], 8, async (context) => {
      await callProvider('analytics', `order-placed:${payloadOf(context).orderId}`, context.idempotencyKey);
    }),
    consumer('notify-webhook', ['order.placed'], 8, async (context) => {
      await callProvider('webhook', `order.placed:${payloadOf(context).orderId}`, context.idempotencyKey);
    }),
  ];
}

const described = shopConsumers({ logger: pino({ level: 'silent' }) });
export const SHOP_CONSUMER_NAMES: readonly string[] = described.map((consumer) => consumer.name);
/** Side effects owed per event: how many consumers subscribe to each type. */
export const SIDE_EFFECTS_PER_EVENT: Readonly<Record<string, number>> = Object.fromEntries(
  shopEvents.map((event) => [event.type, described.filter((consumer) => consumer.events.some((pattern) => matchesTopic(pattern, event.type))).length]),
);
