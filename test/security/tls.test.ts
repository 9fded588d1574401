// amqps://: a RabbitMQ node that listens only for TLS, a certificate from a CA of
// our own, and the relay and a worker connecting to it with the CA trusted through
// NODE_EXTRA_CA_CERTS; without it, the certificate is refused.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOutboxCli, type CliProcess } from '../support/outboxCli.js';
import { startRabbitNode, type RabbitNode } from '../support/rabbitCluster.js';
import { eventually } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const run = promisify(execFile);
const folder = `/tmp/outbox-rabbit-tls-${process.pid}`;
const PORT = 5691;
let db: TestDatabase;
let node: RabbitNode | undefined;
const running: CliProcess[] = [];

async function makeCertificates(): Promise<void> {
  const openssl = (...args: string[]) => run('openssl', args, { cwd: folder });
  await run('mkdir', ['-p', folder]);
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=outbox test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr');
  await run('sh', ['-c', "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext"], { cwd: folder });
  await openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'server.pem',
  );
}

beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
  await makeCertificates();
  node = await startRabbitNode(
    'rmqtls',
    25691,
    folder,
    [
      'listeners.tcp = none',
      `listeners.ssl.default = 127.0.0.1:${PORT}`,
      `ssl_options.cacertfile = ${folder}/ca.pem`,
      `ssl_options.certfile = ${folder}/server.pem`,
      `ssl_options.keyfile = ${folder}/server.key`,
      'ssl_options.verify = verify_none',
      'ssl_options.fail_if_no_peer_cert = false',
      '',
    ].join('\n'),
  );
}, 120_000);
afterAll(async () => {
  for (const cli of running) cli.child.kill('SIGKILL');
  await node?.stop();
  rmSync(folder, { recursive: true, force: true });
  await db?.drop();
});

function start(args: string[], env: Record<string, string>): CliProcess {
  const cli = startOutboxCli(args, { DATABASE_URL: db.url, AMQP_URL: `amqps://guest:guest@localhost:${PORT}`, CONSUMER_NAME: 'tls-test', ...env });
  running.push(cli);
  return cli;
}

describe('amqps://', () => {
  it('the relay and a worker work over TLS with the CA trusted, and refuse an unknown certificate', async () => {
    const trusted = { NODE_EXTRA_CA_CERTS: `${folder}/ca.pem` };
    const worker = start(['worker', '--config', 'test/fixtures/worker.config.ts'], trusted);
    await eventually(() => worker.output().includes('"consuming"'), 60_000, 'the worker consuming over TLS');
    const relay = start(['relay'], trusted);
    const { rows } = await db.pool.query<{ id: string }>(
      "INSERT INTO outbox_message (id, event_type, payload) VALUES (gen_random_uuid(), 'test.anything', '1') RETURNING id::text",
    );
    await eventually(
      async () => (await db.pool.query('SELECT 1 FROM demo_signup_log WHERE message_id = $1', [rows[0]!.id])).rowCount === 1,
      30_000,
      'the event handled',
    );
    expect(relay.output()).toContain('amqps://guest:***@localhost');

    const untrusting = start(['relay'], {});
    await eventually(() => /self[- ]signed|unable to (get|verify)/i.test(untrusting.output()), 30_000, 'the certificate refused');
  }, 120_000);
});
