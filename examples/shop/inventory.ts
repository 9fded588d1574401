// Stock reservations: the one side effect of an order that lives in our own database.
import type { Prisma } from '../../generated/prisma/client.js';
import { NonRetryableError } from '../../src/index.js';
import { INITIAL_STOCK, STOCKED_SKUS } from './catalog.js';

/**
 * Decrements the stock of every line and records the reservations, in one
 * statement: the SKU rows are hot (every order touches them), so they are locked
 * in one order (by SKU: two orders never deadlock) and held for one round trip,
 * not one per line. Stock may go below zero: a backorder, not an error.
 */
export async function reserveStock(tx: Prisma.TransactionClient, orderId: string, lines: readonly { sku: string; quantity: number }[]): Promise<void> {
  const reserved = await tx.$queryRaw<{ sku: string }[]>`
    WITH wanted AS (
           SELECT sku, sum(quantity)::int AS quantity
             FROM jsonb_to_recordset(${JSON.stringify(lines)}::jsonb) AS line(sku text, quantity int)
            GROUP BY sku),
         locked AS MATERIALIZED (
           SELECT item.sku FROM demo_inventory_item item JOIN wanted USING (sku) ORDER BY item.sku FOR UPDATE OF item),
         updated AS (
           UPDATE demo_inventory_item item SET available = item.available - wanted.quantity
             FROM wanted
            WHERE item.sku = wanted.sku AND item.sku IN (SELECT sku FROM locked)
        RETURNING item.sku, wanted.quantity)
    INSERT INTO demo_inventory_reservation (order_id, sku, quantity)
    SELECT ${orderId}::uuid, sku, quantity FROM updated
    RETURNING sku`;
  const unknown = [...new Set(lines.map((line) => line.sku))].filter((sku) => !reserved.some((row) => row.sku === sku));
  // No retry will make an unknown SKU appear: straight to the dead-letter queue
  // (and the throw rolls back the other lines' reservations).
  if (unknown.length > 0) throw new NonRetryableError(`SKU ${unknown.join(', ')} is not stocked`);
}

/** Stocks every SKU once; later calls change nothing. */
export async function stockWarehouse(prisma: { inventoryItem: Prisma.TransactionClient['inventoryItem'] }): Promise<void> {
  await prisma.inventoryItem.createMany({ data: STOCKED_SKUS.map((sku) => ({ sku, available: INITIAL_STOCK })), skipDuplicates: true });
}
