// The outbox.config.ts the chaos suite's workers and reconciler run.
//   CHAOS_FAIL_RATE: share of chaos-effect and chaos-ordered attempts that throw before writing.
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, type Prisma } from '../../generated/prisma/client.js';
import { createOutbox, defineConfig, livePgPoolConfig, NonRetryableError } from '../../src/index.js';
import { chaosEvents } from './chaosEvents.js';

const defineConsumer = createOutbox({ events: chaosEvents }).consumers<Prisma.TransactionClient>();

const failRate = Number(process.env.CHAOS_FAIL_RATE ?? 0);
const retry = { retryDelays: [200, 1_000, 2_000], maxAttempts: 12, prefetch: 20 };

export default defineConfig({
  events: chaosEvents,
  prisma: () => new PrismaClient({ adapter: new PrismaPg({ ...livePgPoolConfig(process.env.DATABASE_URL), max: 8 }) }),
  consumers: [
    defineConsumer({
      name: 'chaos-effect',
      events: ['chaos.item'],
      concurrency: 4,
      ...retry,
      async handle({ event, tx, messageId }) {
        const { itemId, poison } = event.payload;
        if (poison) throw new NonRetryableError(`item ${itemId} is poison`);
        if (Math.random() < failRate) throw new Error('injected handler failure');
        await tx.$executeRaw`INSERT INTO chaos_effect (consumer, message_id, item_id) VALUES ('chaos-effect', ${messageId}::uuid, ${itemId}::uuid)`;
      },
    }),
    defineConsumer({
      name: 'chaos-audit',
      events: ['chaos.*'],
      concurrency: 2,
      ...retry,
      async handle({ event, tx, messageId }) {
        const { itemId } = event.payload;
        await tx.$executeRaw`INSERT INTO chaos_effect (consumer, message_id, item_id) VALUES ('chaos-audit', ${messageId}::uuid, ${itemId}::uuid)`;
      },
    }),
    defineConsumer({
      name: 'chaos-ordered',
      events: ['chaos.item'],
      ordered: true,
      partitions: 4,
      concurrency: 4,
      ...retry,
      async handle({ event, tx, messageId }) {
        const { itemId } = event.payload;
        if (Math.random() < failRate) throw new Error('injected handler failure');
        await tx.$executeRaw`INSERT INTO chaos_effect (consumer, message_id, item_id) VALUES ('chaos-ordered', ${messageId}::uuid, ${itemId}::uuid)`;
      },
    }),
  ],
});
