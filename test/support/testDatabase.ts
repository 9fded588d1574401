import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../../generated/prisma/client.js';
import { adminQuery, dropDatabase, scratchDatabaseName } from './adminDatabase.js';
import { databaseUrl, TEMPLATE_DATABASE } from './databaseUrls.js';

function createPrismaClient(pool: pg.Pool) {
  return new PrismaClient({ adapter: new PrismaPg(pool), log: [{ emit: 'event', level: 'query' }] });
}
export type TestPrismaClient = ReturnType<typeof createPrismaClient>;

export interface TestDatabase {
  name: string;
  url: string;
  /** The demo schema's generated client, through the pg driver adapter. */
  prisma: TestPrismaClient;
  /** A plain pg pool on the same database, for assertions that must not go through the code under test. */
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A database of this test file's own, cloned from the migrated template. */
export async function createTestDatabase(testFileUrl: string): Promise<TestDatabase> {
  const base = path
    .basename(fileURLToPath(testFileUrl))
    .replace(/\.test\.ts$/, '')
    .replace(/[^a-z0-9]+/gi, '_')
    .toLowerCase();
  const name = scratchDatabaseName(base);
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DATABASE}`);
  const url = databaseUrl(name);
  // Pools we own and end: the database is dropped WITH (FORCE) afterwards, and a
  // connection still open then would fail with "terminating connection".
  const prismaPool = new pg.Pool({ connectionString: url, max: 8 });
  // Query events let a test count the statements the code under test sends.
  const prisma = createPrismaClient(prismaPool);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // DROP DATABASE ... WITH (FORCE) terminates whatever is still connected; an idle
  // pooled connection reporting that must not fail the run.
  for (const each of [prismaPool, pool]) each.on('error', () => {});
  return {
    name,
    url,
    prisma,
    pool,
    async drop() {
      await prisma.$disconnect();
      await Promise.all([prismaPool.end(), pool.end()]);
      await dropDatabase(name);
    },
  };
}
