// A small event catalog shared by the write-side tests.
import { z } from 'zod';
import { defineEvent } from '../../src/index.js';

export const orderPlaced = defineEvent('order.placed', z.object({ orderId: z.string().uuid(), totalCents: z.number().int().nonnegative() }));
export const userSignedUpV1 = defineEvent('user.signed-up', z.object({ userId: z.string() }));
export const userSignedUp = defineEvent('user.signed-up', z.object({ userId: z.string(), plan: z.enum(['free', 'pro']).default('free') }), {
  version: 2,
});
export const anything = defineEvent('test.anything', z.unknown());

export const testEvents = [orderPlaced, userSignedUpV1, userSignedUp, anything] as const;
