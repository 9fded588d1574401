// The shop's write endpoints. Before the outbox, "place order" sent the email,
// reserved stock, recorded analytics and called the partner's webhook inline
// (placeOrderInline, kept for the demo's comparison); now each endpoint writes its
// business rows and one thin event in the same transaction, and returns.
import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../../generated/prisma/client.js';
import { DECLINED_CARD, PRICES_CENTS } from './catalog.js';
import { orderPlaced, userSignedUp } from './events.js';
import { reserveStock } from './inventory.js';
import { outbox } from './outbox.js';
import { callProvider } from './providers.js';

// A type alias, not an interface: Prisma's JSON input type wants an index signature, which only aliases get implicitly.
export type OrderLine = {
  sku: string;
  quantity: number;
};

export class PaymentDeclinedError extends Error {
  override name = 'PaymentDeclinedError';
}

/** The simulated payment gateway: charged inside the transaction, so a decline rolls the order (and its event) back. */
export async function chargeCard(card: string, totalCents: number): Promise<void> {
  if (card === DECLINED_CARD) throw new PaymentDeclinedError(`card declined (${totalCents} cents)`);
}

export function orderTotalCents(lines: OrderLine[]): number {
  return lines.reduce((sum, line) => sum + line.quantity * (PRICES_CENTS[line.sku] ?? 0), 0);
}

export async function signUp(prisma: PrismaClient, input: { email: string; name: string }, requestId: string) {
  return prisma.$transaction(async (tx) => {
    const user = await tx.user.create({ data: input });
    await outbox.publish(tx, userSignedUp, { userId: user.id }, { key: user.id, correlationId: requestId });
    return user;
  });
}

/** `orderId` is chosen by the caller so that a declined order can still be named (and checked for: no trace of it anywhere). */
export async function placeOrder(prisma: PrismaClient, input: { orderId?: string; userId: string; lines: OrderLine[]; card: string }, requestId: string) {
  const orderId = input.orderId ?? randomUUID();
  return prisma.$transaction(async (tx) => {
    const totalCents = orderTotalCents(input.lines);
    const order = await tx.order.create({ data: { id: orderId, userId: input.userId, lines: input.lines, totalCents } });
    await outbox.publish(tx, orderPlaced, { orderId: order.id, userId: input.userId }, { key: order.id, correlationId: requestId });
    // Anything failing after the publish rolls the event back with the order.
    await chargeCard(input.card, totalCents);
    return order;
  });
}

/**
 * The brittle endpoint, as it was: the order commits, then every side effect is
 * called in turn while the customer waits. Any one failing fails the request, and
 * leaves the order committed with the rest of its side effects never done.
 */
export async function placeOrderInline(prisma: PrismaClient, input: { orderId?: string; userId: string; lines: OrderLine[]; card: string }) {
  const orderId = input.orderId ?? randomUUID();
  const order = await prisma.$transaction(async (tx) => {
    const totalCents = orderTotalCents(input.lines);
    const created = await tx.order.create({ data: { id: orderId, userId: input.userId, lines: input.lines, totalCents } });
    await chargeCard(input.card, totalCents);
    return created;
  });
  await callProvider('email', `order-confirmation:${order.id}`, `inline:email:${order.id}`);
  await prisma.$transaction((tx) => reserveStock(tx, order.id, input.lines));
  await callProvider('analytics', `order-placed:${order.id}`, `inline:analytics:${order.id}`);
  await callProvider('webhook', `order.placed:${order.id}`, `inline:webhook:${order.id}`);
  return order;
}
