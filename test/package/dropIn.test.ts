// The drop-in, as a new user does it: the packed tarball installed into a Prisma 7
// app of its own (its own models in one schema.prisma, no migrations), the README's
// steps followed literally — its commands run as written, its code blocks written
// into the app — then the relay and a worker started from the installed bin (no tsx,
// no private import) and orders placed: each side effect done exactly once.
// This test is what keeps the README and the package honest.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropDatabase, scratchDatabaseName } from '../support/adminDatabase.js';
import { databaseUrl } from '../support/databaseUrls.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { readmeCodeBlocks } from '../support/readmeCodeBlocks.js';

const ORDERS = 25;
const readme = await readFile('README.md', 'utf8');
const blocks = readmeCodeBlocks(readme);

// The app before the outbox: a shop with customers' orders, and where its side effect lands.
const APP_SCHEMA = `generator client {
  provider = "prisma-client"
  output   = "../src/generated/prisma"
}

datasource db {
  provider = "postgresql"
}

model Order {
  id           String             @id @default(uuid()) @db.Uuid
  email        String
  total        Int
  createdAt    DateTime           @default(now())
  confirmation OrderConfirmation?
}

model OrderConfirmation {
  orderId        String   @id @db.Uuid
  order          Order    @relation(fields: [orderId], references: [id])
  idempotencyKey String   @unique
  sentAt         DateTime @default(now())
}
`;

const APP_PRISMA_CONFIG = `import { defineConfig, env } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: env('DATABASE_URL') },
});
`;

const TSCONFIG = JSON.stringify({
  compilerOptions: {
    target: 'ES2023',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    allowImportingTsExtensions: true,
  },
  include: ['src', 'test', 'outbox.config.ts'],
});

let app: string;
let broker: TestBroker;
let database: string;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command in the app, as the user types it (split on spaces; the README's commands have no quoting). */
function run(commandLine: string, timeoutMs = 240_000): Promise<Result> {
  const [command, ...args] = commandLine.split(' ');
  return new Promise((resolve) => {
    execFile(command!, args, { cwd: app, env, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function runOk(commandLine: string): Promise<Result> {
  const result = await run(commandLine);
  if (result.code !== 0) throw new Error(`${commandLine} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** A README command must appear in the README exactly as the test runs it. */
function fromReadme(commandLine: string): string {
  expect(readme, `README runs \`${commandLine}\``).toContain(commandLine);
  return commandLine;
}

/** A long-running process from the installed bin, as `npx outbox <command>` starts it. */
function startOutbox(command: string): { child: ChildProcess; output: () => string } {
  fromReadme(`npx outbox ${command}`);
  const child = spawn(path.join(app, 'node_modules/.bin/outbox'), [command], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

beforeAll(async () => {
  app = await mkdtemp(path.join(tmpdir(), 'outbox-dropin-'));
  broker = await createTestBroker('dropin');
  database = scratchDatabaseName('dropin');

  // What npm publishes: `npm pack` runs the build (prepack) and applies package.json "files".
  const packed = await new Promise<string>((resolve, reject) =>
    execFile('npm', ['pack', '--json', '--pack-destination', app], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) =>
      error ? reject(new Error(error.message, { cause: error })) : resolve(JSON.parse(stdout.slice(stdout.indexOf('[')))[0].filename as string),
    ),
  );
  const tarball = path.join(app, path.basename(packed));

  // The app as it was before: Prisma 7 with the pg adapter, TypeScript, its schema, no migrations.
  const ownPackage = JSON.parse(await readFile('package.json', 'utf8'));
  const versions = { ...ownPackage.dependencies, ...ownPackage.devDependencies } as Record<string, string>;
  await writeFile(
    path.join(app, 'package.json'),
    JSON.stringify({
      name: 'shop',
      private: true,
      type: 'module',
      dependencies: { '@prisma/client': versions['@prisma/client'], '@prisma/adapter-pg': versions['@prisma/adapter-pg'], pg: versions.pg },
      devDependencies: {
        prisma: versions.prisma,
        typescript: versions.typescript,
        tsx: versions.tsx,
        '@types/node': versions['@types/node'],
        vitest: versions.vitest,
      },
    }),
  );
  await mkdir(path.join(app, 'prisma'));
  await writeFile(path.join(app, 'prisma/schema.prisma'), APP_SCHEMA);
  await writeFile(path.join(app, 'prisma.config.ts'), APP_PRISMA_CONFIG);
  await writeFile(path.join(app, 'tsconfig.json'), TSCONFIG);

  // This machine cannot download Prisma's engines; generation never runs the schema
  // engine but wants one named (../shared/ENVIRONMENT.md). A user online needs none of this.
  const engineStub = path.join(app, 'no-schema-engine.sh');
  await writeFile(engineStub, '#!/bin/sh\nexit 1\n');
  await chmod(engineStub, 0o755);
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: databaseUrl(database),
    AMQP_URL: broker.url,
    PRISMA_SCHEMA_ENGINE_BINARY: engineStub,
    LOG_LEVEL: 'info',
  };
  for (const key of ['npm_config_cache', 'NPM_CONFIG_USERCONFIG']) if (process.env[key]) env[key] = process.env[key];

  await runOk('npm install --no-audit --no-fund');
  // README: install. The package name is replaced by the tarball npm pack made.
  const install = fromReadme('npm install prisma-rabbitmq-outbox zod');
  await runOk(`${install.replace('prisma-rabbitmq-outbox', tarball)} --no-audit --no-fund`);
}, 600_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await broker?.delete();
  if (database) await dropDatabase(database);
  if (app) await rm(app, { recursive: true, force: true });
});

describe('drop-in from the packed tarball, following the README', () => {
  it('init, generate, migrate, setup, relay, worker: every order has its side effect exactly once', async () => {
    // README step 2: the outbox into the app's schema and migrations, then the client and the database.
    const init = await runOk(fromReadme('npx outbox init'));
    expect(init.stdout).toContain('_outbox_tables');
    await runOk(fromReadme('npx prisma generate'));
    await runOk(fromReadme('npx outbox migrate'));

    // README steps 3 and 4: the code blocks, written where the README says.
    for (const [file, code] of blocks.files) {
      await mkdir(path.dirname(path.join(app, file)), { recursive: true });
      await writeFile(path.join(app, file), code);
    }
    expect([...blocks.files.keys()].sort()).toEqual(['outbox.config.ts', 'src/outbox.ts', 'test/orders.test.ts']);
    // The app's own endpoint, around the README's publish snippet.
    const snippet = blocks.snippets.get('publish');
    expect(snippet).toBeDefined();
    const imports = snippet!.split('\n').filter((line) => line.startsWith('import '));
    const body = snippet!.split('\n').filter((line) => !line.startsWith('import '));
    await writeFile(
      path.join(app, 'src/placeOrders.ts'),
      [
        "import { PrismaPg } from '@prisma/adapter-pg';",
        "import { PrismaClient } from './generated/prisma/client.js';",
        ...imports,
        'const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL! }) });',
        'async function placeOrder(email: string, total: number) {',
        ...body.map((line) => `  ${line}`),
        '  return order;',
        '}',
        `for (let i = 0; i < ${ORDERS}; i++) await placeOrder(\`customer\${i}@example.com\`, 1000 + i);`,
        'await prisma.$disconnect();',
      ].join('\n'),
    );
    // The user's code type-checks against the installed package's types: no casts needed.
    const typecheck = await run('npx tsc -p tsconfig.json');
    expect(typecheck.stdout, typecheck.stdout).toBe('');
    expect(typecheck.code).toBe(0);

    // README step 5: the deploy step, then the processes, from the installed bin.
    const setup = await runOk(fromReadme('npx outbox setup'));
    expect(setup.stdout).toContain('send-order-confirmation');
    const relay = startOutbox('relay');
    const worker = startOutbox('worker');

    await runOk('npx tsx src/placeOrders.ts');

    const pool = new pg.Pool({ connectionString: databaseUrl(database), max: 2 });
    try {
      await eventually(async () => {
        const [row] = (await pool.query<{ count: number }>('SELECT count(*)::int AS count FROM "OrderConfirmation"')).rows;
        return row!.count === ORDERS;
      }, 60_000).catch((error: Error) => {
        throw new Error(`${error.message}: ${ORDERS} order confirmations\nrelay: ${relay.output().slice(-3000)}\nworker: ${worker.output().slice(-3000)}`);
      });
      const [facts] = (
        await pool.query<{ orders: number; confirmed: number; published: number; done: number }>(`
          SELECT (SELECT count(*)::int FROM "Order") AS orders,
                 (SELECT count(DISTINCT "orderId")::int FROM "OrderConfirmation") AS confirmed,
                 (SELECT count(*)::int FROM outbox_message WHERE status = 'published') AS published,
                 (SELECT count(*)::int FROM outbox_inbox WHERE consumer = 'send-order-confirmation' AND status = 'done') AS done`)
      ).rows;
      expect(facts).toEqual({ orders: ORDERS, confirmed: ORDERS, published: ORDERS, done: ORDERS });
    } finally {
      await pool.end();
    }

    // A fresh, healthy install: status has no alerts (the hourly reconciler has not run yet) and exits 0.
    const status = await run(`${fromReadme('npx outbox status')} --json`);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      alerts: [],
      consumers: [expect.objectContaining({ consumer: 'send-order-confirmation', notDone: 0, dead: 0 })],
    });
    // The reconciler finds nothing owed.
    const reconcile = await runOk(fromReadme('npx outbox reconcile --once'));
    expect(JSON.parse(reconcile.stdout)).toMatchObject({ status: 'done', rescheduled: 0 });

    // SIGTERM: both stop cleanly.
    for (const { child } of [relay, worker]) child.kill('SIGTERM');
    const codes = await Promise.all([relay, worker].map(({ child }) => new Promise((resolve) => child.once('exit', resolve))));
    expect(codes).toEqual([0, 0]);

    // README "Testing your app": its test file, run by the app's own vitest against the installed test kit.
    const tests = await run('npx vitest run');
    expect(tests.code, tests.stdout + tests.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex -- vitest colours its summary
    expect(tests.stdout.replace(/\u001b\[[0-9;]*m/g, '')).toMatch(/Tests\s+1 passed/);
  }, 600_000);
});
