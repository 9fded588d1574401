// Stock reservations: the one side effect of an order that lives in our own database.
import type { Prisma } from '../../generated/prisma/client.js';
import { NonRetryableError } from '../../src/index.js';
import { INITIAL_STOCK, STOCKED_SKUS } from './catalog.js';

export async function reserveStock(tx: Prisma.TransactionClient, orderId: string, lines: readonly { sku: string; quantity: number }[]): Promise<void> {
  // Rows locked in one order (by SKU) by everyone: two orders for the same SKUs never deadlock.
  for (const line of [...lines].sort((a, b) => a.sku.localeCompare(b.sku))) {
    // Stock may go below zero: a backorder, not an error.
    const updated = await tx.inventoryItem.updateMany({ where: { sku: line.sku }, data: { available: { decrement: line.quantity } } });
    // No retry will make an unknown SKU appear: straight to the dead-letter queue.
    if (updated.count === 0) throw new NonRetryableError(`SKU ${line.sku} is not stocked`);
    await tx.inventoryReservation.create({ data: { orderId, sku: line.sku, quantity: line.quantity } });
  }
}

/** Stocks every SKU once; later calls change nothing. */
export async function stockWarehouse(prisma: { inventoryItem: Prisma.TransactionClient['inventoryItem'] }): Promise<void> {
  await prisma.inventoryItem.createMany({ data: STOCKED_SKUS.map((sku) => ({ sku, available: INITIAL_STOCK })), skipDuplicates: true });
}
