import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SchemaFile } from './loadSchemaEngine.js';

/** A schema file, or every *.prisma file of a schema folder (Prisma's multi-file schema), sorted by path. */
export async function readSchemaFiles(schemaPath: string): Promise<SchemaFile[]> {
  if (!(await stat(schemaPath)).isDirectory()) {
    return [{ path: schemaPath, content: await readFile(schemaPath, 'utf8') }];
  }
  const names = (await readdir(schemaPath, { recursive: true })).filter((name) => name.endsWith('.prisma')).sort();
  return Promise.all(
    names.map(async (name) => {
      const filePath = path.join(schemaPath, name);
      return { path: filePath, content: await readFile(filePath, 'utf8') };
    }),
  );
}
