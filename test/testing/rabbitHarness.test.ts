// The test kit in rabbitmq mode: the library's relay and worker in-process, on a
// private vhost; drain() watches them settle.
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isOutboxError } from '../../src/index.js';
import { createTestHarness, expectDeadLettered, expectHandled, type RabbitTestHarness, type TestHarnessOptions } from '../../src/testing/index.js';
import { PrismaClient } from '../../generated/prisma/client.js';
import { managementApi } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { addItem, cartCheckedOut, checkOut, createEffectTable, createKitApp, effectCount, itemAdded, kitOutbox, type KitApp } from './kitFixture.js';

const run = promisify(execFile);
const amqpUrl = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
let db: TestDatabase;
let app: KitApp;
const opened: RabbitTestHarness<typeof kitOutbox.catalog.events>[] = [];

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  await createEffectTable(db);
  app = createKitApp();
});
// One harness on a database at a time (the second would refuse to start): each test opens its own.
afterEach(async () => {
  await Promise.all(opened.splice(0).map((harness) => harness.stop()));
});
afterAll(async () => {
  await db?.drop();
});

/** A harness over the kit app; retries in real time here, so short ones unless a test says otherwise. */
async function open(options: Partial<Omit<TestHarnessOptions<typeof kitOutbox.catalog.events>, 'mode'>> = {}) {
  const harness = await createTestHarness({
    config: { outbox: kitOutbox, consumers: app.consumers, prisma: db.prisma },
    amqpUrl,
    retryDelays: [30],
    ...options,
  });
  opened.push(harness);
  return harness;
}

/** Polls a condition the test itself owns (the harness's drain needs none of this). */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function vhostExists(name: string): Promise<boolean> {
  return (await managementApi('GET', `/vhosts/${encodeURIComponent(name)}`)).status === 200;
}

describe('drain() on the real broker', () => {
  it('resolves once every event is published and every side effect done, each once', async () => {
    const harness = await open();
    const cartId = randomUUID();
    const added = await addItem(db, cartId, 'mug');
    const checkedOut = await checkOut(db, cartId);
    await harness.drain();
    expect(await effectCount(db, 'record-item', added)).toBe(1);
    expect(await effectCount(db, 'notify-checkout', checkedOut)).toBe(1);
    expect([await effectCount(db, 'ship-cart', added), await effectCount(db, 'ship-cart', checkedOut)]).toEqual([1, 1]);
    expect((await harness.published()).map((event) => event.status)).toEqual(['published', 'published']);
    await expectHandled(harness, 'ship-cart', cartCheckedOut, { cartId }, { times: 1 });
    expect(
      harness
        .deliveries()
        .map((delivery) => delivery.outcome)
        .sort(),
    ).toEqual(['handled', 'handled', 'handled', 'handled']);
  });

  it('never resolves while a side effect is still running, and resolves once it is done', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let entered = false;
    const gated = kitOutbox.consumers<Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0]>()({
      name: 'slow-record',
      events: ['cart.item-added'],
      async handle({ tx, messageId }) {
        entered = true;
        await gate;
        await tx.$executeRaw`INSERT INTO kit_effect (consumer, message_id) VALUES ('slow-record', ${messageId}::uuid)`;
      },
    });
    const gatedHarness = await open({ consumers: [...app.consumers, gated] });
    try {
      const id = await addItem(db, randomUUID(), 'lamp');
      let drained = false;
      const draining = gatedHarness.drain().then(() => (drained = true));
      await until(() => entered, 'the slow handler to start');
      // The other consumers settle meanwhile: each settlement made drain read the database again.
      await until(() => gatedHarness.deliveries().filter((delivery) => delivery.messageId === id).length === 2, 'the other consumers to settle');
      await until(async () => (await effectCount(db, 'ship-cart', id)) === 1, 'the other side effects');
      expect(drained).toBe(false);
      openGate();
      await draining;
      expect(await effectCount(db, 'slow-record', id)).toBe(1);
      expect((await gatedHarness.handled('slow-record')).map((event) => event.id)).toEqual([id]);
    } finally {
      openGate();
    }
  });

  it('is woken by the pipeline, not by a timer: it settles with its periodic re-read an hour away', async () => {
    const prompt = await open({ drainRecheckMs: 3_600_000, drainTimeoutMs: 20_000 });
    const ids = [await addItem(db, randomUUID(), 'mug'), await checkOut(db, randomUUID())];
    await prompt.drain();
    for (const id of ids) expect(await effectCount(db, 'ship-cart', id)).toBe(1);
  });
});

describe('retries and dead letters on the real broker', () => {
  it('a handler failing twice is done on its third attempt', async () => {
    const harness = await open();
    const id = await addItem(db, randomUUID(), 'mug');
    harness.failNext('record-item', 2);
    await harness.drain();
    expect(harness.deliveries('record-item').map((delivery) => delivery.outcome)).toEqual(['retried', 'retried', 'handled']);
    const [handled] = await expectHandled(harness, 'record-item', itemAdded);
    expect(handled).toMatchObject({ id, attempts: 3 });
    expect(await effectCount(db, 'record-item', id)).toBe(1);
  });

  it('a handler failing every attempt ends in its dead-letter queue, counted', async () => {
    const harness = await open();
    const cartId = randomUUID();
    const id = await checkOut(db, cartId);
    harness.failNext('notify-checkout', 10);
    await harness.drain();
    expect(harness.deliveries('notify-checkout').map((delivery) => delivery.outcome)).toEqual(['retried', 'retried', 'dead-lettered']);
    const [dead] = await expectDeadLettered(harness, 'notify-checkout', cartCheckedOut, { cartId });
    expect(dead).toMatchObject({ id, attempts: 3 });
    expect(dead!.error).toContain('InjectedFailure');
    // On the broker too: the message waits in the consumer's DLQ.
    const connection = await amqp.connect(harness.amqpUrl);
    try {
      const channel = await connection.createChannel();
      expect((await channel.checkQueue('notify-checkout.dlq')).messageCount).toBe(1);
    } finally {
      await connection.close();
    }
  });

  it('deliver() sends a done message again: a duplicate, nothing done twice', async () => {
    const harness = await open();
    const id = await addItem(db, randomUUID(), 'mug');
    await harness.drain();
    expect(await harness.deliver('record-item', id)).toBe('duplicate');
    await harness.drain();
    expect(await effectCount(db, 'record-item', id)).toBe(1);
  });

  it('a drain that cannot settle in time says what is owed and why', async () => {
    // The consumers' own delays (1 s, then 5 s): longer than this drain waits.
    const slow = await open({ only: ['record-item'], retryDelays: undefined, drainTimeoutMs: 500 });
    const id = await addItem(db, randomUUID(), 'mug');
    slow.failNext('record-item', 1);
    const failure = await slow.drain().catch((error: unknown) => error);
    expect(isOutboxError(failure, 'OUTBOX_DRAIN_TIMEOUT')).toBe(true);
    expect((failure as Error).message).toContain(
      `record-item owes cart.item-added ${id}: 1 attempt(s) failed, waiting for its retry; last error: InjectedFailure`,
    );
    expect((failure as Error).message).toContain('retryDelays');
  });
});

describe('set-up and clean-up', () => {
  it('stop() deletes the private vhost, with every queue, exchange and connection in it', async () => {
    const own = await open();
    const queues = await (await managementApi('GET', `/queues/${encodeURIComponent(own.vhost)}?columns=name`)).json();
    expect((queues as { name: string }[]).map((queue) => queue.name)).toEqual(expect.arrayContaining(['record-item', 'record-item.dlq', 'ship-cart']));
    await own.stop();
    await own.stop();
    expect(await vhostExists(own.vhost)).toBe(false);
    const connections = (await (await managementApi('GET', '/connections?columns=vhost')).json()) as { vhost: string }[];
    expect(connections.filter((connection) => connection.vhost === own.vhost)).toEqual([]);
  });

  it('a broker that does not answer fails the start with a typed error, and leaves no vhost', async () => {
    const before = (await (await managementApi('GET', '/vhosts?columns=name')).json()) as { name: string }[];
    const failure = await createTestHarness({
      config: { outbox: kitOutbox, consumers: app.consumers, prisma: db.prisma },
      // The management API answers (it is derived from the host), the AMQP port does not.
      amqpUrl: 'amqp://guest:guest@127.0.0.1:1',
      drainTimeoutMs: 1_000,
    }).catch((error: unknown) => error);
    expect(isOutboxError(failure, 'OUTBOX_HARNESS_SETUP_FAILED')).toBe(true);
    expect((failure as Error).message).toContain('did not start within 1000 ms');
    const after = (await (await managementApi('GET', '/vhosts?columns=name')).json()) as { name: string }[];
    expect(after.map((vhost) => vhost.name).filter((name) => name.startsWith('outbox-harness-'))).toEqual(
      before.map((vhost) => vhost.name).filter((name) => name.startsWith('outbox-harness-')),
    );
  });

  it('a wrong password is called a refused login, not a missing tag', async () => {
    const failure = await createTestHarness({
      config: { outbox: kitOutbox, consumers: app.consumers, prisma: db.prisma },
      amqpUrl: 'amqp://guest:wrong@127.0.0.1:5672',
    }).catch((error: unknown) => error);
    expect(isOutboxError(failure, 'OUTBOX_HARNESS_SETUP_FAILED')).toBe(true);
    expect((failure as Error).message).toContain('the management API refused the login of user "guest"');
  });

  it('a pool with no connection to spare fails the start, saying why', async () => {
    const tiny = new PrismaClient({ adapter: new PrismaPg({ connectionString: db.url, max: 1 }) });
    try {
      const failure = await createTestHarness({
        mode: 'in-memory',
        config: { outbox: kitOutbox, consumers: app.consumers, prisma: tiny },
        drainTimeoutMs: 500,
      }).catch((error: unknown) => error);
      expect(isOutboxError(failure, 'OUTBOX_HARNESS_SETUP_FAILED')).toBe(true);
      expect((failure as Error).message).toContain("is the pool's max 1?");
    } finally {
      await tiny.$disconnect();
    }
  });

  it('a vhost abandoned by a run that never stopped is swept by the next harness; an old one still in use is not', async () => {
    const longAgo = new Date(Date.now() - 3_600_000).toISOString();
    const description = `prisma-rabbitmq-outbox test harness, created ${longAgo} by pid 1; deleted by its stop()`;
    const [abandoned, busy] = ['outbox-harness-abandoned-test', 'outbox-harness-busy-test'];
    for (const name of [abandoned, busy]) await managementApi('PUT', `/vhosts/${name}`, { description });
    await managementApi('PUT', `/permissions/${busy}/guest`, { configure: '.*', write: '.*', read: '.*' });
    const url = new URL(amqpUrl);
    url.pathname = `/${busy}`;
    const connection = await amqp.connect(url.toString());
    try {
      // The management API lists a connection a moment after it opened.
      await until(async () => ((await (await managementApi('GET', `/vhosts/${busy}/connections`)).json()) as unknown[]).length === 1, 'the connection listed');
      const harness = await open();
      expect(await vhostExists(abandoned)).toBe(false);
      expect(await vhostExists(busy)).toBe(true);
      expect(await vhostExists(harness.vhost)).toBe(true);
    } finally {
      await connection.close();
      for (const name of [abandoned, busy]) await managementApi('DELETE', `/vhosts/${name}`);
    }
  });

  it('a process that exits without stop() names the vhost it left', async () => {
    const script = `
      import { PrismaPg } from '@prisma/adapter-pg';
      import { PrismaClient } from './generated/prisma/client.js';
      import { createTestHarness } from './src/testing/index.js';
      import { kitOutbox, createKitApp } from './test/testing/kitFixture.js';
      const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: ${JSON.stringify(db.url)} }) });
      await createTestHarness({ config: { outbox: kitOutbox, consumers: createKitApp().consumers, prisma }, amqpUrl: ${JSON.stringify(amqpUrl)} });
      process.exit(0);`;
    const { stderr } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.resolve('.') });
    const left = /vhost\(s\) (outbox-harness-[0-9a-f]+) left on the broker/.exec(stderr)?.[1];
    expect(left, stderr).toBeDefined();
    expect(await vhostExists(left!)).toBe(true);
    await managementApi('DELETE', `/vhosts/${left}`);
  });

  it('no management API: a typed error that says how to enable it', async () => {
    const saved = process.env.RABBITMQ_MANAGEMENT_URL;
    process.env.RABBITMQ_MANAGEMENT_URL = 'http://127.0.0.1:1';
    try {
      const failure = await createTestHarness({ config: { outbox: kitOutbox, consumers: app.consumers, prisma: db.prisma }, amqpUrl }).catch(
        (error: unknown) => error,
      );
      expect(isOutboxError(failure, 'OUTBOX_HARNESS_SETUP_FAILED')).toBe(true);
      expect((failure as Error).message).toContain('rabbitmq-plugins enable rabbitmq_management');
    } finally {
      if (saved === undefined) delete process.env.RABBITMQ_MANAGEMENT_URL;
      else process.env.RABBITMQ_MANAGEMENT_URL = saved;
    }
  });
});
