// Finds and loads an outbox.config.* (see importUserModule for how).
import { access } from 'node:fs/promises';
import path from 'node:path';
import type { PrismaRootClient } from '../database/sqlStore.js';
import { OutboxError } from '../errors.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import type { OutboxConfig, WorkerSettings } from './defineConfig.js';
import { importUserModule } from './importUserModule.js';

/** Looked for in the working directory, in this order, when --config is not given. */
export const DEFAULT_CONFIG_FILES = ['outbox.config.ts', 'outbox.config.mts', 'outbox.config.js', 'outbox.config.mjs', 'outbox.config.cjs'];

export interface LoadedConfig {
  /** The event catalog, from `outbox` or `events`. */
  events: readonly EventDefinition[];
  consumers: OutboxConfig['consumers'];
  /** `outbox worker`'s timing settings ({} when the config has none). */
  worker: WorkerSettings;
  /** The file it came from, absolute. */
  file: string;
  /** The app's Prisma client, created on first call (the config's `prisma` may be a factory). */
  prismaClient(): Promise<PrismaRootClient>;
}

type ConfigShape = { events: unknown; consumers: OutboxConfig['consumers']; prisma: OutboxConfig['prisma']; worker?: WorkerSettings };

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/**
 * The config file a command should load: `explicit` (which must exist), else the first
 * default file in `cwd`, else undefined (commands that can run without one decide).
 */
export async function findConfigFile(explicit: string | undefined, cwd = process.cwd()): Promise<string | undefined> {
  if (explicit !== undefined) {
    const file = path.resolve(cwd, explicit);
    if (!(await exists(file))) throw new OutboxError('OUTBOX_CONFIG_NOT_FOUND', `no config file at ${file} (from --config ${explicit})`);
    return file;
  }
  for (const name of DEFAULT_CONFIG_FILES) {
    const file = path.join(cwd, name);
    if (await exists(file)) return file;
  }
  return undefined;
}

/** findConfigFile, for commands that cannot run without a config. */
export async function requireConfigFile(explicit: string | undefined, cwd = process.cwd()): Promise<string> {
  const file = await findConfigFile(explicit, cwd);
  if (file === undefined) {
    throw new OutboxError(
      'OUTBOX_CONFIG_NOT_FOUND',
      `no ${DEFAULT_CONFIG_FILES[0]} (or .mts/.js/.mjs/.cjs) in ${cwd}: create one exporting defineConfig({ events, consumers, prisma }), or pass --config <file>`,
    );
  }
  return file;
}

/** The innermost useful message of an import failure (a syntax error's location, a missing module's name). */
function describeImportFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: string }).code;
  return code ? `${error.message} (${code})` : error.message;
}

export async function loadConfig(configFile: string): Promise<LoadedConfig> {
  const file = path.resolve(configFile);
  let module: { default?: unknown };
  try {
    module = await importUserModule(file);
  } catch (error) {
    throw new OutboxError('OUTBOX_INVALID_CONFIG', `cannot load ${file}: ${describeImportFailure(error)}`, { cause: error });
  }
  const config = module.default as (Partial<ConfigShape> & { outbox?: { catalog?: { events?: unknown } } }) | undefined;
  const events = config?.events ?? config?.outbox?.catalog?.events;
  if (!config || !Array.isArray(events) || !Array.isArray(config.consumers) || config.prisma === undefined) {
    throw new OutboxError('OUTBOX_INVALID_CONFIG', `${file} must default-export defineConfig({ outbox (or events), consumers, prisma })`);
  }
  const { prisma } = config;
  let client: Promise<PrismaRootClient> | undefined;
  return {
    file,
    events: events as readonly EventDefinition[],
    consumers: config.consumers,
    worker: config.worker ?? {},
    prismaClient: () => (client ??= Promise.resolve(typeof prisma === 'function' ? prisma() : prisma)),
  };
}
