// The config `outbox worker` runs in the end-to-end benchmark (bench/e2e.ts): one
// consumer with default options (but `batchSize`, from E2E_BATCH_SIZE), whose handler records, as its transaction's last
// statement, the moment it handled the event (the commit follows within one round trip).
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, type Prisma } from '../../generated/prisma/client.js';
import { createOutbox, defineConfig, livePgPoolConfig } from '../../src/index.js';
import { e2eEvents } from './e2eEvents.js';

const outbox = createOutbox({ events: e2eEvents });
const consumer = outbox.consumers<Prisma.TransactionClient>();

export default defineConfig({
  outbox,
  consumers: [
    consumer({
      name: 'e2e-record-order',
      events: ['order.placed'],
      batchSize: Number(process.env.E2E_BATCH_SIZE ?? 1),
      async handle({ tx, messageId }) {
        await tx.$executeRaw`INSERT INTO bench_e2e_handled (message_id, handled_at) VALUES (${messageId}::uuid, clock_timestamp())`;
      },
    }),
  ],
  prisma: () => new PrismaClient({ adapter: new PrismaPg(livePgPoolConfig(process.env.DATABASE_URL, { applicationName: 'bench-e2e-worker' })) }),
});
