import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConsumerDefinition } from '../consumers/defineConsumer.js';
import { OutboxError } from '../errors.js';
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

/** Imports a config module (TypeScript needs a loader such as tsx; `npm run outbox` has one). */
export async function loadConfig(configPath: string): Promise<OutboxConfig & { prismaClient(): Promise<PrismaRootClient> }> {
  const absolute = path.resolve(configPath);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(absolute).href)) as { default?: unknown };
  } catch (error) {
    throw new OutboxError('OUTBOX_INVALID_CONFIG', `cannot load ${configPath}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const config = module.default as Partial<OutboxConfig> | undefined;
  if (!config || !Array.isArray(config.events) || !Array.isArray(config.consumers) || config.prisma === undefined) {
    throw new OutboxError('OUTBOX_INVALID_CONFIG', `${configPath} must default-export defineConfig({ events, consumers, prisma })`);
  }
  const { prisma } = config;
  let client: Promise<PrismaRootClient> | undefined;
  return {
    events: config.events,
    consumers: config.consumers,
    prisma,
    prismaClient: () => (client ??= Promise.resolve(typeof prisma === 'function' ? prisma() : prisma)),
  };
}
