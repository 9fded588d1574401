// wakeRelay: one NOTIFY per committed transaction, none for a rolled-back one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createOutbox } from '../../src/index.js';
import { anything, testEvents } from '../support/events.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let listener: pg.Client;
const notifications: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (message) => notifications.push(message.channel));
  await listener.query('LISTEN outbox_message');
});
afterAll(async () => {
  await listener.end();
  await db.drop();
});

/** Waits until the listener has seen `count` notifications, or a little longer to prove there are no more. */
async function settle(): Promise<void> {
  // A round trip on the listening connection flushes notifications already delivered to it.
  await listener.query('SELECT 1');
  await new Promise((resolve) => setTimeout(resolve, 100));
  await listener.query('SELECT 1');
}

describe('wakeRelay', () => {
  it('notifies once per committed transaction, however many messages it publishes', async () => {
    const outbox = createOutbox({ events: testEvents, wakeRelay: true });
    notifications.length = 0;
    await db.prisma.$transaction(async (tx) => {
      await outbox.publish(tx, anything, 1);
      await outbox.publish(tx, anything, 2);
      await outbox.publishMany(tx, [
        { event: anything, payload: 3 },
        { event: anything, payload: 4 },
      ]);
    });
    await settle();
    expect(notifications).toEqual(['outbox_message']);
  });

  it('costs no statement of its own: the NOTIFY goes in the insert statement', async () => {
    const outbox = createOutbox({ events: testEvents, wakeRelay: true });
    const statements: string[] = [];
    db.prisma.$on('query', (event) => statements.push(event.query));
    notifications.length = 0;
    await db.prisma.$transaction((tx) => outbox.publish(tx, anything, 1));
    await settle();
    expect(notifications).toEqual(['outbox_message']);
    // BEGIN, the insert with its NOTIFY, COMMIT.
    expect(statements.filter((text) => !/^(BEGIN|COMMIT)$/i.test(text.trim()))).toEqual([expect.stringMatching(/INSERT INTO outbox_message[\s\S]*pg_notify/)]);
  });

  it('does not notify when the transaction rolls back', async () => {
    const outbox = createOutbox({ events: testEvents, wakeRelay: true });
    notifications.length = 0;
    await expect(
      db.prisma.$transaction(async (tx) => {
        await outbox.publish(tx, anything, 1);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    await settle();
    expect(notifications).toEqual([]);
  });

  it('is off by default', async () => {
    const outbox = createOutbox({ events: testEvents });
    notifications.length = 0;
    await db.prisma.$transaction((tx) => outbox.publish(tx, anything, 1));
    await settle();
    expect(notifications).toEqual([]);
  });
});
