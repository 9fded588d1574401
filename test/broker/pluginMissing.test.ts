// Ordered consumers route through RabbitMQ's consistent-hash exchange, a plugin. On a
// broker without it, `outbox setup` and the worker stop at once with a typed error that
// says how to enable it, rather than retrying forever. A node of its own (no plugins),
// beside the machine's broker.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOutboxCli } from '../support/runOutboxCli.js';
import { startRabbitNode, type RabbitNode } from '../support/rabbitCluster.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const folder = `/tmp/outbox-rabbit-plain-${process.pid}`;
const PORT = 5692;
let node: RabbitNode | undefined;
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  node = await startRabbitNode('rmqplain', 25692, folder, `listeners.tcp.local = 127.0.0.1:${PORT}\n`, []);
}, 120_000);
afterAll(async () => {
  await node?.stop();
  rmSync(folder, { recursive: true, force: true });
  await db?.drop();
});

describe('a broker without the consistent-hash exchange plugin', () => {
  it('setup and worker refuse an ordered consumer with OUTBOX_BROKER_PLUGIN_MISSING and the command to enable it', { timeout: 60_000 }, async () => {
    const env = { DATABASE_URL: db.url, AMQP_URL: `amqp://guest:guest@127.0.0.1:${PORT}`, LOG_LEVEL: 'warn' };
    for (const command of ['setup', 'worker']) {
      const result = await runOutboxCli([command, '--config', 'test/fixtures/ordered.config.ts'], env);
      expect(result.code, `${command}: ${result.stderr}`).toBe(1);
      expect(result.stderr).toContain('OUTBOX_BROKER_PLUGIN_MISSING');
      expect(result.stderr).toContain('rabbitmq-plugins enable rabbitmq_consistent_hash_exchange');
    }
  });
});
