import type { ConsumerDefinition } from '../consumers/defineConsumer.js';
import type { EventDefinition } from '../outbox/defineEvent.js';
import type { PrismaRootClient } from '../database/sqlStore.js';

/** What `outbox worker --config outbox.config.ts` (and later commands) load. */
export interface OutboxConfig {
  /** The event catalog. */
  events: readonly EventDefinition[];
  /** The side effects the worker runs. */
  consumers: readonly ConsumerDefinition<readonly EventDefinition[], never>[];
  /** Your Prisma client, or a function creating it (called once, by commands that need it). */
  prisma: PrismaRootClient | (() => PrismaRootClient | Promise<PrismaRootClient>);
}

/** Types an outbox.config.ts, in the spirit of prisma.config.ts: `export default defineConfig({ ... })`. */
export function defineConfig(config: OutboxConfig): OutboxConfig {
  return config;
}
