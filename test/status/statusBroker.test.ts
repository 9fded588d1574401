// `outbox status`, broker side, against the real RabbitMQ: the management API
// found from AMQP_URL (address, user, vhost) or from RABBITMQ_MANAGEMENT_URL,
// each way it can fail told apart, an API of another broker caught, and the
// unroutable queue watched. Run without a config file (consumers from the database).
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { declareRelayTopology } from '../../src/broker/declareRelayTopology.js';
import { createTestBroker, eventually, managementApi, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';
import { emptyFolder, runStatusCli, statusReport } from './statusCli.js';

const CONSUMER = 'status-broker-consumer';
const managementBase = process.env.TEST_RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';
// Characters a URL must escape, so a leak of either form would show.
const PASSWORD = `Pw@:/%-${randomBytes(6).toString('hex')}`;
const WRONG = `Wr0ng-${randomBytes(6).toString('hex')}`;

let db: TestDatabase;
let broker: TestBroker;
let user: string;
let folder: string;
let fakeApi: Server;

function amqpUrl(change: (url: URL) => void = () => {}): string {
  const url = new URL(broker.url);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(PASSWORD);
  change(url);
  return url.toString();
}

function withCredentials(base: string, username: string, password: string): string {
  const url = new URL(base);
  url.username = encodeURIComponent(username);
  url.password = encodeURIComponent(password);
  return url.toString();
}

const status = (env: Record<string, string | undefined>, args: string[] = []) => statusReport(args, { DATABASE_URL: db.url, ...env }, folder);

function expectNoPassword(text: string) {
  for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), WRONG]) expect(text.includes(secret), `output shows a password:\n${text}`).toBe(false);
}

/** The management API samples queue statistics every few seconds: wait until it has this queue's. */
async function sampled(queue: string, messages: number): Promise<void> {
  await eventually(
    async () => {
      const response = await managementApi('GET', `/queues/${encodeURIComponent(broker.vhost)}/${encodeURIComponent(queue)}?columns=messages`);
      return response.ok && ((await response.json()) as { messages?: number }).messages === messages;
    },
    30_000,
    `${queue} sampled with ${messages} message(s)`,
  );
}

/** An HTTP server that answers like a management API, for a broker that is not ours. */
async function startFakeManagementApi(): Promise<Server> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://fake').pathname;
    const json = (body: unknown) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (path === '/api/overview') json({ cluster_name: 'rabbit@elsewhere', node: 'rabbit@elsewhere', rabbitmq_version: '3.10.8' });
    // Depths that must never reach the report: they are another broker's.
    else if (path.startsWith('/api/queues/'))
      json([
        { name: CONSUMER, messages: 42 },
        { name: `${CONSUMER}.dlq`, messages: 42 },
        { name: 'outbox.unroutable', messages: 42 },
      ]);
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('status-broker')]);
  folder = emptyFolder();
  // A user of its own, tagged for the management API, so "credentials from AMQP_URL" cannot be guest's by chance.
  user = `outbox-status-${randomBytes(3).toString('hex')}`;
  await managementApi('PUT', `/users/${encodeURIComponent(user)}`, { password: PASSWORD, tags: 'monitoring' });
  await managementApi('PUT', `/permissions/${encodeURIComponent(broker.vhost)}/${encodeURIComponent(user)}`, { configure: '.*', write: '.*', read: '.*' });
  await managementApi('PUT', `/users/${encodeURIComponent(`${user}-untagged`)}`, { password: PASSWORD, tags: '' });
  // A healthy pipeline: the consumer registered, its queues declared, the reconciler ran a minute ago.
  await db.pool.query("INSERT INTO outbox_consumer (name, registered_at) VALUES ($1, now() - interval '2 hours')", [CONSUMER]);
  await db.pool.query("INSERT INTO outbox_reconciler_run (started_at, finished_at, status) VALUES (now() - interval '1 minute', now(), 'done')");
  await declareRelayTopology(broker.channel, { exchange: 'outbox.events', unroutable: 'outbox.unroutable' });
  await broker.channel.assertQueue(CONSUMER, { durable: true });
  await broker.channel.assertQueue(`${CONSUMER}.dlq`, { durable: true });
  await Promise.all([sampled(CONSUMER, 0), sampled(`${CONSUMER}.dlq`, 0), sampled('outbox.unroutable', 0)]);
  fakeApi = await startFakeManagementApi();
});
afterAll(async () => {
  await new Promise((resolve) => fakeApi?.close(resolve));
  for (const name of user ? [user, `${user}-untagged`] : []) await managementApi('DELETE', `/users/${encodeURIComponent(name)}`).catch(() => {});
  await broker?.delete();
  await db?.drop();
});

describe('outbox status: the broker', () => {
  it('finds the management API from AMQP_URL (host, user, password, vhost), or from an override without credentials, and reports exit 0 when all is well', async () => {
    const [derived, override, human] = await Promise.all([
      status({ AMQP_URL: amqpUrl() }),
      // As docker-compose sets it: an address, no credentials.
      status({ AMQP_URL: amqpUrl(), RABBITMQ_MANAGEMENT_URL: managementBase }),
      runStatusCli([], { DATABASE_URL: db.url, AMQP_URL: amqpUrl() }, folder),
    ]);
    const host = new URL(broker.url).hostname;
    expect(derived.report.broker).toMatchObject({
      vhost: broker.vhost,
      amqp: { state: 'ok' },
      management: { url: `http://${host}:15672`, user, source: 'AMQP_URL', credentialsFrom: 'AMQP_URL', state: 'ok' },
      unroutable: { queue: 'outbox.unroutable', depth: 0 },
    });
    expect(derived.report.broker.amqp.clusterName).toBe(derived.report.broker.management.clusterName);
    expect(derived.report.consumers).toEqual([expect.objectContaining({ consumer: CONSUMER, queueDepth: 0, retryDepth: 0, dlqDepth: 0 })]);
    expect(derived.report.alerts).toEqual([]);
    expect(derived.code).toBe(0);

    expect(override.report.broker.management).toMatchObject({
      url: managementBase.replace(/\/$/, ''),
      user,
      source: 'RABBITMQ_MANAGEMENT_URL',
      credentialsFrom: 'AMQP_URL',
      state: 'ok',
    });
    expect(override.code).toBe(0);

    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('no alerts');
    expect(human.stdout).toMatch(/management +http:\/\/\S+ \(user outbox-status-\w+, from AMQP_URL\): ok/);
    for (const run of [derived, override, human]) expectNoPassword(run.stdout + run.stderr);
  }, 60_000);

  it("tells refused credentials, an unreachable plugin, another broker's API, a refused or unreachable AMQP node apart, each with an alert and exit 3", async () => {
    const fakePort = (fakeApi.address() as AddressInfo).port;
    const closed = await closedPort();
    const [refused, notManagementUser, unreachable, otherBroker, amqpRefused, noVhost, amqpUnreachable] = await Promise.all([
      status({ AMQP_URL: amqpUrl(), RABBITMQ_MANAGEMENT_URL: withCredentials(managementBase, user, WRONG) }),
      // The right password, but a user without the monitoring/management tag: refused too, with its own reason.
      status({ AMQP_URL: amqpUrl(), RABBITMQ_MANAGEMENT_URL: withCredentials(managementBase, `${user}-untagged`, PASSWORD) }),
      status({ AMQP_URL: amqpUrl(), RABBITMQ_MANAGEMENT_URL: `http://127.0.0.1:${closed}` }),
      status({ AMQP_URL: amqpUrl(), RABBITMQ_MANAGEMENT_URL: `http://127.0.0.1:${fakePort}` }),
      status({ AMQP_URL: amqpUrl((url) => (url.password = WRONG)) }),
      status({ AMQP_URL: amqpUrl((url) => (url.pathname = '/no-such-vhost-here')) }),
      // Nothing listens on the AMQP port; the management API still answers on 15672.
      status({ AMQP_URL: amqpUrl((url) => (url.port = String(closed))), RABBITMQ_MANAGEMENT_URL: managementBase }),
    ]);

    expect(refused.report.broker.management).toMatchObject({ state: 'credentials-refused', user, credentialsFrom: 'RABBITMQ_MANAGEMENT_URL' });
    expect(refused.report.broker.management.detail).toMatch(/^credentials refused \(HTTP 401/);
    expect(refused.report.alerts.join('\n')).toMatch(/credentials refused/);
    expect(refused.report.alerts.join('\n')).not.toMatch(/rabbitmq-plugins enable/);
    expect(notManagementUser.report.broker.management).toMatchObject({ state: 'credentials-refused', user: `${user}-untagged` });
    expect(notManagementUser.report.broker.management.detail).toMatch(/"Not management user"/);

    expect(unreachable.report.broker.management.state).toBe('unreachable');
    expect(unreachable.report.alerts.join('\n')).toMatch(/not reachable \(ECONNREFUSED\).*rabbitmq-plugins enable rabbitmq_management/);

    expect(otherBroker.report.broker.amqp.state).toBe('ok');
    expect(otherBroker.report.broker.management).toMatchObject({ state: 'other-broker', clusterName: 'rabbit@elsewhere' });
    expect(otherBroker.report.alerts.join('\n')).toMatch(/belongs to another broker \(cluster "rabbit@elsewhere"/);
    // Its depths (42) are not this broker's: unknown, not reported.
    expect(otherBroker.report.consumers).toEqual([expect.objectContaining({ consumer: CONSUMER, queueDepth: null, dlqDepth: null })]);
    expect(otherBroker.report.broker.unroutable.depth).toBeNull();

    expect(amqpRefused.report.broker.amqp.state).toBe('credentials-refused');
    expect(amqpRefused.report.broker.management.state).toBe('credentials-refused');
    expect(noVhost.report.broker.amqp.state).toBe('vhost-refused');
    expect(noVhost.report.broker.management).toMatchObject({ state: 'unverified' });
    expect(noVhost.report.broker.management.detail).toMatch(/vhost "no-such-vhost-here" does not exist there/);

    expect(amqpUnreachable.report.broker.amqp).toMatchObject({ state: 'unreachable' });
    expect(amqpUnreachable.report.broker.amqp.detail).toMatch(/ECONNREFUSED/);
    expect(amqpUnreachable.report.broker.management.state).toBe('unverified');
    expect(amqpUnreachable.report.consumers[0].queueDepth).toBeNull();

    for (const run of [refused, notManagementUser, unreachable, otherBroker, amqpRefused, noVhost, amqpUnreachable]) {
      expect(run.code, run.stderr).toBe(3);
      expect(run.report.broker.management.state).not.toBe('ok');
      expectNoPassword(run.stdout + run.stderr);
    }
    // The human report says it in words too.
    const human = await runStatusCli([], { DATABASE_URL: db.url, AMQP_URL: amqpUrl(), RABBITMQ_MANAGEMENT_URL: `http://127.0.0.1:${fakePort}` }, folder);
    expect(human.code).toBe(3);
    expect(human.stdout).toMatch(/management .*: other-broker: it belongs to another broker/);
    expect(human.stdout).toMatch(new RegExp(`${CONSUMER} +\\S+ +\\? +\\? +0 +\\? +\\? +\\?`));
  }, 60_000);

  it('reports events that matched no binding (outbox.unroutable), with an alert that says what to do', async () => {
    broker.channel.publish('outbox.events', 'nobody.listens', Buffer.from('{}'), { persistent: true });
    await sampled('outbox.unroutable', 1);
    const { report, code } = await status({ AMQP_URL: amqpUrl() });
    expect(report.broker.unroutable).toEqual({ queue: 'outbox.unroutable', depth: 1 });
    expect(report.alerts).toEqual([expect.stringMatching(/1 event\(s\) in outbox.unroutable matched no binding.*outbox setup.*kept in outbox.unroutable/)]);
    expect(code).toBe(3);
  }, 60_000);
});
