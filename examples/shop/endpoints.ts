// The shop's write endpoints. Before the outbox, each one sent the email, reserved
// stock and called the webhook inline; now each writes its business rows and one
// thin event in the same transaction, and returns.
import { createOutbox } from '../../src/index.js';
import type { PrismaClient } from '../../generated/prisma/client.js';
import { orderPlaced, shopEvents, userSignedUp } from './events.js';

export const outbox = createOutbox({ events: shopEvents });

export interface OrderLine {
  sku: string;
  quantity: number;
  priceCents: number;
}

export async function signUp(prisma: PrismaClient, input: { email: string; name: string }, requestId: string) {
  return prisma.$transaction(async (tx) => {
    const user = await tx.user.create({ data: input });
    await outbox.publish(tx, userSignedUp, { userId: user.id }, { key: user.id, correlationId: requestId });
    return user;
  });
}

export async function placeOrder(
  prisma: PrismaClient,
  input: { userId: string; lines: OrderLine[]; chargeCard: (totalCents: number) => Promise<void> },
  requestId: string,
) {
  return prisma.$transaction(async (tx) => {
    const totalCents = input.lines.reduce((sum, line) => sum + line.quantity * line.priceCents, 0);
    const order = await tx.order.create({ data: { userId: input.userId, lines: input.lines as object[], totalCents } });
    await outbox.publish(tx, orderPlaced, { orderId: order.id, userId: input.userId }, { key: order.id, correlationId: requestId });
    // Anything failing after the publish rolls the event back with the order.
    await input.chargeCard(totalCents);
    return order;
  });
}
