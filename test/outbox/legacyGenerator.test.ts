// The outbox never imports the app's client: it works with a client from the older
// `prisma-client-js` generator (CommonJS, another output path) exactly as with `prisma-client`.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient as LegacyPrismaClient } from '../../generated/prisma-js/index.js';
import { createOutbox, outboxExtension } from '../../src/index.js';
import { anything, testEvents } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let legacyPool: pg.Pool;
let legacy: LegacyPrismaClient;
const outbox = createOutbox({ events: testEvents });

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  legacyPool = new pg.Pool({ connectionString: db.url, max: 4 });
  legacy = new LegacyPrismaClient({ adapter: new PrismaPg(legacyPool) });
});
afterAll(async () => {
  await legacy.$disconnect();
  await legacyPool.end();
  await db.drop();
});

describe('a prisma-client-js client', () => {
  it('publishes inside its interactive transaction and rolls back with it', async () => {
    const id = await legacy.$transaction(async (tx) => {
      await tx.user.create({ data: { email: 'legacy@example.com', name: 'Legacy' } });
      return outbox.publish(tx, anything, { via: 'prisma-client-js' });
    });
    await expect(
      legacy.$transaction(async (tx) => {
        await outbox.publish(tx, anything, { via: 'rolled back' });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');

    const { rows } = await db.pool.query('SELECT id, payload FROM outbox_message');
    expect(rows).toEqual([{ id, payload: { via: 'prisma-client-js' } }]);
  });

  it('works as an extension and refuses its root client', async () => {
    const extended = legacy.$extends(outboxExtension(outbox));
    const id = await extended.$transaction((tx) => tx.$publish(anything, 'extended'));
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    // @ts-expect-error: the root client is refused at compile time as well
    await expect(outbox.publish(legacy, anything, 1)).rejects.toMatchObject({ code: 'OUTBOX_NOT_IN_TRANSACTION' });
    // @ts-expect-error: the root client is refused at compile time as well
    await expect(extended.$publish(anything, 1)).rejects.toMatchObject({ code: 'OUTBOX_NOT_IN_TRANSACTION' });
  });
});
