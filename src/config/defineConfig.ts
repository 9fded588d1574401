import type { ConsumerDefinition } from '../catalog/defineConsumer.js';
import type { WorkerOptions } from '../consumers/createWorker.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import type { PrismaRootClient } from '../database/sqlStore.js';

interface ConfigParts {
  /** The side effects the worker runs. */
  consumers: readonly ConsumerDefinition<readonly EventDefinition[], never>[];
  /** Your Prisma client, or a function creating it (called once, by commands that need it). */
  prisma: PrismaRootClient | (() => PrismaRootClient | Promise<PrismaRootClient>);
  /** `outbox worker`'s timing, when the defaults do not fit (see createWorker). */
  worker?: WorkerSettings;
}

/** The createWorker options `outbox worker` takes from the config file. */
export type WorkerSettings = Pick<WorkerOptions, 'transactionTimeoutMs' | 'deliveryTimeoutMs' | 'drainTimeoutMs' | 'healthToleranceMs'>;

/**
 * What the `outbox` commands load from outbox.config.ts: the event catalog (your
 * `outbox` from createOutbox(), or the `events` list itself), the consumers and the
 * Prisma client.
 */
export type OutboxConfig = ConfigParts &
  ({ outbox: { readonly catalog: { readonly events: readonly EventDefinition[] } }; events?: never } | { events: readonly EventDefinition[]; outbox?: never });

/**
 * Types an outbox.config.ts, in the spirit of prisma.config.ts: `export default defineConfig({ ... })`.
 * Returns the config as typed, so the test kit (prisma-rabbitmq-outbox/testing) knows its catalog.
 */
export function defineConfig<const TConfig extends OutboxConfig>(config: TConfig): TConfig {
  return config;
}
