// The shop's outbox.config.ts: what `outbox worker` and `outbox reconcile` load.
//   DATABASE_URL, PROVIDERS_URL; DEMO_BREAK_INBOX=1 for the demo's self-test only.
import { PrismaPg } from '@prisma/adapter-pg';
import { pino } from 'pino';
import { PrismaClient } from '../../generated/prisma/client.js';
import { defineConfig, livePgPoolConfig } from '../../src/index.js';
import { shopConsumers } from './consumers.js';
import { shopEvents } from './events.js';

export default defineConfig({
  events: shopEvents,
  consumers: shopConsumers({ logger: pino({ base: { component: 'alerts' } }), breakInbox: process.env.DEMO_BREAK_INBOX === '1' }),
  prisma: () => new PrismaClient({ adapter: new PrismaPg({ ...livePgPoolConfig(process.env.DATABASE_URL, { applicationName: 'shop-worker' }), max: 16 }) }),
});
