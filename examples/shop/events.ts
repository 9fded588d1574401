// The shop's event catalog: thin events, an event name plus ids.
import { z } from 'zod';
import { defineEvent } from '../../src/index.js';

export const userSignedUp = defineEvent('user.signed-up', z.object({ userId: z.string().uuid() }));
export const orderPlaced = defineEvent('order.placed', z.object({ orderId: z.string().uuid(), userId: z.string().uuid() }));

export const shopEvents = [userSignedUp, orderPlaced] as const;
export type ShopEvents = typeof shopEvents;
