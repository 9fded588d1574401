import type { EventDefinition } from '../catalog/defineEvent.js';
import type { EventRef, Outbox, OutboxMessageInput, PayloadOf } from './createOutbox.js';
import type { PublishOptions } from './publishOptions.js';
import { assertTransactionClient, type TransactionClientArgument } from '../database/transactionClient.js';

/**
 * The outbox as a Prisma Client extension:
 *
 *   const prisma = new PrismaClient({ adapter }).$extends(outboxExtension(outbox));
 *   await prisma.$transaction(async (tx) => {
 *     const order = await tx.order.create({ data });
 *     await tx.$publish('order.placed', { orderId: order.id }, { key: order.id });
 *   });
 *
 * Prisma hands an extension's client methods the client they are called on as
 * `this` (here the transaction client), but not methods of a nested object, so the
 * methods sit on the client itself: `tx.$publish`, `tx.$publishMany`. Called on the
 * root client they do not compile ("pass the transaction client (`tx`)"), and throw
 * OUTBOX_NOT_IN_TRANSACTION if called there anyway.
 */
export function outboxExtension<const TEvents extends readonly EventDefinition[]>(outbox: Outbox<TEvents>) {
  return {
    name: 'outbox',
    client: {
      async $publish<TClient, E extends EventRef<TEvents>>(
        this: TransactionClientArgument<TClient>,
        event: E,
        payload: PayloadOf<TEvents, E>,
        options?: PublishOptions,
      ): Promise<string> {
        const tx: unknown = this;
        assertTransactionClient(tx);
        return outbox.publish(tx, event, payload, options);
      },
      async $publishMany<TClient>(this: TransactionClientArgument<TClient>, messages: readonly OutboxMessageInput<TEvents>[]): Promise<string[]> {
        const tx: unknown = this;
        assertTransactionClient(tx);
        return outbox.publishMany(tx, messages);
      },
    },
  } as const;
}
