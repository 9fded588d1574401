// The shop's outbox: the event catalog, and consumers bound once to it and to the
// Prisma transaction client type, so no consumer repeats either.
import type { Prisma } from '../../generated/prisma/client.js';
import { createOutbox } from '../../src/index.js';
import { shopEvents } from './events.js';

export const outbox = createOutbox({ events: shopEvents });
export const defineConsumer = outbox.consumers<Prisma.TransactionClient>();
