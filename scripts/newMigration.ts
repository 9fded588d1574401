// npm run db:new-migration -- <name> [--from <git revision>]
//
// Writes prisma/migrations/<timestamp>_<name>/migration.sql: the SQL from the
// schema as of the last migration (the prisma/schema folder at a git revision,
// HEAD by default) to the schema in the working tree. `prisma migrate dev` does
// the same through a shadow database, which needs the native engine; this needs
// only the WebAssembly one. Migrations are append-only: never edit an applied one.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { diffSchemas } from '../src/migrations/diffSchemas.js';
import { readSchemaFiles } from '../src/migrations/readSchemaFiles.js';
import type { SchemaFile } from '../src/migrations/loadSchemaEngine.js';

const SCHEMA_DIR = 'prisma/schema';
const MIGRATIONS_DIR = 'prisma/migrations';

function schemaAtRevision(revision: string): SchemaFile[] {
  const listing = execFileSync('git', ['ls-tree', '-r', '--name-only', revision, '--', SCHEMA_DIR], { encoding: 'utf8' });
  return listing
    .split('\n')
    .filter((file) => file.endsWith('.prisma'))
    .sort()
    .map((file) => ({ path: file, content: execFileSync('git', ['show', `${revision}:${file}`], { encoding: 'utf8' }) }));
}

const { values, positionals } = parseArgs({ options: { from: { type: 'string', default: 'HEAD' } }, allowPositionals: true });
const name = positionals[0];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  process.stderr.write('usage: npm run db:new-migration -- <name: a-z, 0-9, _> [--from <git revision>]\n');
  process.exit(2);
}
const databaseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const previous = schemaAtRevision(values.from);
const script = await diffSchemas(databaseUrl, previous.length === 0 ? 'empty' : previous, await readSchemaFiles(SCHEMA_DIR));
if (script.trim() === '' || /^-- This is an empty migration\.\s*$/.test(script.trim())) {
  process.stdout.write(`no schema change since ${values.from}: nothing written\n`);
} else {
  const timestamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const dir = path.join(MIGRATIONS_DIR, `${timestamp}_${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'migration.sql'), script);
  process.stdout.write(`wrote ${dir}/migration.sql\n${script}`);
}
