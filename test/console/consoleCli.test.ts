// `outbox console` as a user runs it: the config's consumers served on loopback until
// SIGTERM; refused (exit 1, typed) off loopback without OUTBOX_CONSOLE_TOKEN.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox } from '../../src/index.js';
import { anything, testEvents } from '../support/events.js';
import { startOutboxCli } from '../support/outboxCli.js';
import { runOutboxCli } from '../support/runOutboxCli.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('console-cli')]);
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

const CONFIG = ['--config', 'test/fixtures/worker.config.ts'];

describe('outbox console', () => {
  it("serves the config's consumers on loopback, and stops on SIGTERM", async () => {
    const cli = startOutboxCli(['console', ...CONFIG, '--port', '0'], { DATABASE_URL: db.url, AMQP_URL: broker.url });
    try {
      await eventually(() => cli.stderr().includes('outbox console listening'), 20_000, 'the console listening');
      const url = /"url":"([^"]+)"/.exec(cli.stderr())![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const consumers = (await (await fetch(new URL('/api/consumers', url))).json()) as { name: string }[];
      expect(consumers.map((consumer) => consumer.name)).toEqual(['process-test']);
      expect(cli.output()).not.toContain(db.url);
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect((await cli.exited).code).toBe(0);
  });

  it('refuses to listen beyond loopback without OUTBOX_CONSOLE_TOKEN, saying what to do', async () => {
    const result = await runOutboxCli(['console', ...CONFIG, '--host', '0.0.0.0', '--port', '0'], {
      DATABASE_URL: db.url,
      AMQP_URL: broker.url,
      OUTBOX_CONSOLE_TOKEN: undefined,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('outbox console: OUTBOX_INVALID_OPTIONS: outbox console --host 0.0.0.0 is reachable from other machines');
    expect(result.stderr).toContain('OUTBOX_CONSOLE_TOKEN');
  });

  it('outbox journey: the same journey in the terminal, by message id or ordering key', async () => {
    const id = await db.prisma.$transaction((tx) => createOutbox({ events: testEvents }).publish(tx, anything, { n: 1 }, { key: 'order-77' }));
    const env = { DATABASE_URL: db.url, AMQP_URL: broker.url };
    const asJson = await runOutboxCli(['journey', id, ...CONFIG, '--json'], env);
    expect(asJson.code, asJson.stderr).toBe(0);
    expect(JSON.parse(asJson.stdout)).toMatchObject({
      matchedBy: 'id',
      messages: [{ id, status: 'pending', orderingKey: 'order-77', consumers: [{ consumer: 'process-test', status: 'not-published', attempts: 0 }] }],
    });
    const asText = await runOutboxCli(['journey', 'order-77', ...CONFIG], env);
    expect(asText.stdout).toContain('1 message(s), matched by orderingKey');
    expect(asText.stdout).toContain('process-test: not-published');
    const none = await runOutboxCli(['journey', 'nothing-like-it', ...CONFIG], env);
    expect(none.stdout).toContain('no message with the id, ordering key or correlation id "nothing-like-it"');
  });
});
