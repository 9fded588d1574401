// What a user of the published package can reach: the built entry, by package name,
// and nothing deeper; the `outbox` bin.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileApp, repo } from '../types/compileApp.js';

const run = promisify(execFile);
const packageJson = JSON.parse(await readFile('package.json', 'utf8'));

beforeAll(async () => {
  await run('npm', ['run', '-s', 'build']);
}, 120_000);

describe('the published package', () => {
  it('exports only the public entry and the test kit', () => {
    expect(Object.keys(packageJson.exports)).toEqual(['.', './testing', './package.json']);
    expect(packageJson.bin).toEqual({ outbox: './dist/cli/main.js' });
    expect(packageJson.peerDependencies['@prisma/client']).toBe('>=7.10.0 <8');
  });

  // Plain Node, not vitest's resolver: what a user's process does.
  const nodeImport = (specifier: string) =>
    run(process.execPath, ['--input-type=module', '-e', `console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(specifier)}))))`]);

  it('imports by package name, with the documented API', async () => {
    const { stdout } = await nodeImport(packageJson.name);
    expect(JSON.parse(stdout).sort()).toEqual(
      [
        'NonRetryableError',
        'OutboxError',
        'createOutbox',
        'createReconciler',
        'createRelay',
        'createWorker',
        'defineConfig',
        'defineConsumer',
        'defineEvent',
        'isOutboxError',
        'livePgPoolConfig',
        'migrateDatabase',
        'outboxExtension',
        'outsideTransaction',
      ].sort(),
    );
  });

  it('imports the test kit by its own name', async () => {
    const { stdout } = await nodeImport(`${packageJson.name}/testing`);
    expect(JSON.parse(stdout).sort()).toEqual(
      ['InjectedFailure', 'createTestHarness', 'expectDeadLettered', 'expectHandled', 'expectNotPublished', 'expectPublished', 'matchesPayload'].sort(),
    );
  });

  // The typed API lives in the declarations, not in Object.keys: an app file compiled against dist/index.d.ts.
  it('declares the typed consumer API: outbox.consumers<Tx>(), narrowed events, the root client refused', async () => {
    const errors = await compileApp(`
      import { z } from 'zod';
      import type { Prisma, PrismaClient } from '${repo}/generated/prisma/client.js';
      import { createOutbox, defineEvent, type ConsumerFactory, type RootClientRefused, type SubscribedEvents } from '${repo}/dist/index.js';

      const orderPlaced = defineEvent('order.placed', z.object({ orderId: z.string() }));
      const outbox = createOutbox({ events: [orderPlaced] });
      type Events = typeof outbox.catalog.events;
      export const defineConsumer: ConsumerFactory<Events, Prisma.TransactionClient> = outbox.consumers<Prisma.TransactionClient>();
      export const subscribed: SubscribedEvents<Events, ['order.*']> = orderPlaced;
      export const confirm = defineConsumer({
        name: 'confirm',
        events: ['order.*'],
        async handle({ event, tx }) {
          const orderId: string = event.payload.orderId;
          await tx.order.findUnique({ where: { id: orderId } });
        },
      });
      export const refused: RootClientRefused = 'pass the transaction client (\`tx\`) of prisma.$transaction(async (tx) => ...), not the root PrismaClient';
      export async function root(prisma: PrismaClient) {
        await outbox.publish(prisma, 'order.placed', { orderId: 'o-1' });
      }
    `);
    expect(errors).toEqual([
      { line: "await outbox.publish(prisma, 'order.placed', { orderId: 'o-1' });", message: expect.stringContaining('pass the transaction client (`tx`)') },
    ]);
  }, 120_000);

  it('refuses deep imports of internals', async () => {
    await expect(nodeImport(`${packageJson.name}/dist/outbox/createOutbox.js`)).rejects.toMatchObject({
      stderr: expect.stringContaining('ERR_PACKAGE_PATH_NOT_EXPORTED'),
    });
  });

  it('runs the built bin', async () => {
    const { stdout } = await run(process.execPath, ['dist/cli/main.js', 'help']);
    expect(stdout).toContain('outbox <command>');
  });
});
