// Where an app keeps its Prisma schema and migrations, found the way the `prisma`
// CLI finds them: explicit paths first, then prisma.config.ts (`schema`,
// `migrations.path`), then the conventional places. Prisma 7 puts migrations in a
// `migrations` folder beside the schema file, or inside the schema folder.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { importUserModule } from '../config/importUserModule.js';
import { OutboxError } from '../errors.js';

export interface PrismaProject {
  /** The schema file, or the folder of a multi-file schema. */
  schemaPath: string;
  schemaIsFolder: boolean;
  migrationsDir: string;
  /** The prisma.config.* the paths came from, if any. */
  prismaConfigFile: string | undefined;
}

export interface LocateOptions {
  cwd?: string;
  schema?: string | undefined;
  migrations?: string | undefined;
}

const PRISMA_CONFIG_FILES = ['prisma.config.ts', 'prisma.config.mts', 'prisma.config.js', 'prisma.config.mjs', 'prisma.config.cts', 'prisma.config.cjs'];
const CONVENTIONAL_SCHEMAS = ['prisma/schema.prisma', 'schema.prisma', 'prisma/schema'];

const kindOf = (file: string) =>
  stat(file).then(
    (found) => (found.isDirectory() ? 'folder' : 'file'),
    () => undefined,
  );

interface PrismaConfigPaths {
  file: string;
  schema?: string;
  migrations?: string;
}

/** The paths a prisma.config.* names, resolved against its folder. A config that fails to load is reported. */
async function readPrismaConfig(cwd: string): Promise<PrismaConfigPaths | undefined> {
  for (const name of PRISMA_CONFIG_FILES) {
    const file = path.join(cwd, name);
    if ((await kindOf(file)) !== 'file') continue;
    let config: { schema?: unknown; migrations?: { path?: unknown } } | undefined;
    try {
      config = (await importUserModule(file)).default as typeof config;
    } catch (error) {
      throw new OutboxError(
        'OUTBOX_INVALID_CONFIG',
        `cannot load ${file} to find the Prisma schema: ${error instanceof Error ? error.message : String(error)}. ` +
          'Fix that (e.g. set the environment variable it reads, such as DATABASE_URL), or pass --schema and --migrations',
        { cause: error },
      );
    }
    const folder = path.dirname(file);
    return {
      file,
      ...(typeof config?.schema === 'string' ? { schema: path.resolve(folder, config.schema) } : {}),
      ...(typeof config?.migrations?.path === 'string' ? { migrations: path.resolve(folder, config.migrations.path) } : {}),
    };
  }
  return undefined;
}

export async function locatePrismaProject(options: LocateOptions = {}): Promise<PrismaProject> {
  const cwd = options.cwd ?? process.cwd();
  const prismaConfig = options.schema !== undefined && options.migrations !== undefined ? undefined : await readPrismaConfig(cwd);

  let schemaPath = options.schema !== undefined ? path.resolve(cwd, options.schema) : prismaConfig?.schema;
  if (schemaPath === undefined) {
    for (const candidate of CONVENTIONAL_SCHEMAS) {
      if (await kindOf(path.join(cwd, candidate))) {
        schemaPath = path.join(cwd, candidate);
        break;
      }
    }
  }
  if (schemaPath === undefined) {
    throw new OutboxError(
      'OUTBOX_SCHEMA_NOT_FOUND',
      `no Prisma schema in ${cwd} (looked for ${CONVENTIONAL_SCHEMAS.join(', ')} and prisma.config.ts "schema"): pass --schema <file or folder>`,
    );
  }
  const kind = await kindOf(schemaPath);
  if (kind === undefined) throw new OutboxError('OUTBOX_SCHEMA_NOT_FOUND', `no Prisma schema at ${schemaPath}`);

  const schemaRootDir = kind === 'folder' ? schemaPath : path.dirname(schemaPath);
  const migrationsDir =
    options.migrations !== undefined ? path.resolve(cwd, options.migrations) : (prismaConfig?.migrations ?? path.join(schemaRootDir, 'migrations'));
  return { schemaPath, schemaIsFolder: kind === 'folder', migrationsDir, prismaConfigFile: prismaConfig?.file };
}
