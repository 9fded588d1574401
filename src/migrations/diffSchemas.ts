import { loadSchemaEngine, type SchemaFile } from './loadSchemaEngine.js';

/**
 * The SQL that takes a database described by `from` (or an empty one) to the
 * schema described by `to`, as `prisma migrate diff --script` prints it. Needs a
 * reachable database URL for the engine's connector, but does not touch it.
 */
export async function diffSchemas(databaseUrl: string, from: SchemaFile[] | 'empty', to: SchemaFile[]): Promise<string> {
  const { engine, close } = await loadSchemaEngine(databaseUrl, to);
  try {
    const result = await engine.diff({
      from: from === 'empty' ? { tag: 'empty' } : { tag: 'schemaDatamodel', files: from },
      to: { tag: 'schemaDatamodel', files: to },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    return result.stdout ?? '';
  } finally {
    await close();
  }
}
