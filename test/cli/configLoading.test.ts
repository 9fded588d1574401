// Config files load as Prisma's prisma.config.ts does: TypeScript or JavaScript,
// ESM or CommonJS, found in the working directory, with no loader installed by the
// user; one that fails names the file and the real cause.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOutboxCli } from '../support/runOutboxCli.js';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const run = promisify(execFile);
let db: TestDatabase;
let broker: TestBroker;
let root: string;
const src = path.resolve('src/index.ts');
const client = path.resolve('generated/prisma/client.ts');

let builtMain: string;

// Inside the repository (scratch/ is ignored by git) so bare imports resolve from its
// node_modules. The CLI runs built, under plain node: no tsx registered by the test.
beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('config-loading')]);
  await mkdir('scratch', { recursive: true });
  root = await mkdtemp(path.resolve('scratch/config-'));
  await run('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', path.join(root, 'dist')]);
  builtMain = path.join(root, 'dist/cli/main.js');
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await broker?.delete();
  await db?.drop();
});

const esm = (typed: boolean) => `import { PrismaPg } from '@prisma/adapter-pg';
import { z } from 'zod';
import { defineConfig, defineEvent } from ${JSON.stringify(src)};
import { PrismaClient } from ${JSON.stringify(client)};
const connectionString${typed ? ': string | undefined' : ''} = process.env.DATABASE_URL;
export default defineConfig({
  events: [defineEvent('config.loaded', z.object({ id: z.string() }))],
  consumers: [],
  prisma: () => new PrismaClient({ adapter: new PrismaPg({ connectionString }) }),
});
`;

const cjs = `const { PrismaPg } = require('@prisma/adapter-pg');
const { z } = require('zod');
const { defineEvent } = require(${JSON.stringify(src)});
const { PrismaClient } = require(${JSON.stringify(client)});
module.exports = {
  events: [defineEvent('config.loaded', z.object({ id: z.string() }))],
  consumers: [],
  prisma: () => new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL }) }),
};
`;

async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(root, 'app-'));
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
  return dir;
}

const setup = (cwd: string, args: string[] = []) => runOutboxCli(['setup', ...args], { DATABASE_URL: db.url, AMQP_URL: broker.url }, cwd, [builtMain]);

describe('config loading from the bin, without a loader', () => {
  it.each([
    ['outbox.config.ts', esm(true)],
    ['outbox.config.mts', esm(true)],
    ['outbox.config.mjs', esm(false)],
    ['outbox.config.js', esm(false)],
    ['outbox.config.cjs', cjs],
  ])('finds and loads %s in the working directory', async (name, content) => {
    const result = await setup(await project({ [name]: content }));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ready: 0 consumer(s)');
  });

  it('loads the file --config names, relative to the working directory', async () => {
    const dir = await project({ 'deploy.config.ts': esm(true) });
    const result = await setup(path.dirname(dir), ['--config', path.join(path.basename(dir), 'deploy.config.ts')]);
    expect(result.code).toBe(0);
  });

  it('names the file and the cause when a config fails to load', async () => {
    const syntax = await project({ 'outbox.config.ts': 'export default {\n  events: [,\n' });
    const broken = await setup(syntax);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`OUTBOX_INVALID_CONFIG: cannot load ${path.join(syntax, 'outbox.config.ts')}`);
    expect(broken.stderr).not.toContain('unexpected error');

    const missingImport = await project({ 'outbox.config.ts': "import { nothing } from './not-there.js';\nexport default nothing;\n" });
    const missing = await setup(missingImport);
    expect(missing.stderr).toMatch(/OUTBOX_INVALID_CONFIG: cannot load .*outbox\.config\.ts: .*not-there/);

    const wrongShape = await project({ 'outbox.config.ts': 'export default { consumers: [] };\n' });
    expect((await setup(wrongShape)).stderr).toContain('must default-export defineConfig({ outbox (or events), consumers, prisma })');
  });

  it('says where it looked when there is no config', async () => {
    const empty = await project({});
    const none = await setup(empty);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`OUTBOX_CONFIG_NOT_FOUND: no outbox.config.ts (or .mts/.js/.mjs/.cjs) in ${empty}`);

    const named = await setup(empty, ['--config', 'elsewhere/outbox.config.ts']);
    expect(named.stderr).toContain(`OUTBOX_CONFIG_NOT_FOUND: no config file at ${path.join(empty, 'elsewhere/outbox.config.ts')}`);
  });
});
