// The console's JSON API against the real database and broker: the overview, a
// message's journey, a dead letter listed, replayed (effect once) and recorded in the
// audit log; and its guards: credentials off loopback, CSRF on actions, the Host
// header on loopback, no password in any answer, markup returned as inert JSON text.
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, createReconciler, createRelay, createWorker, defineConsumer, NonRetryableError, type Worker } from '../../src/index.js';
import { resolveManagementEndpoint } from '../../src/broker/resolveManagementEndpoint.js';
import { startConsole, type ConsoleOptions, type ConsoleServer } from '../../src/console/consoleServer.js';
import { anything, orderPlaced, testEvents } from '../support/events.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
let worker: Worker;
let local: ConsoleServer;
const logger = pino({ level: 'silent' });
const outbox = createOutbox({ events: testEvents });
const XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';
const ORDER_ID = '0b4b5f2e-6a63-4f61-9a53-d1f0f1c2b001';
let poisonFixed = false;

const consumers: ConsoleOptions['consumers'] = [
  { name: 'confirm-order', eventTypes: ['order.placed'], queues: ['confirm-order'], ordered: false },
  { name: 'archive-anything', eventTypes: ['test.anything'], queues: ['archive-anything'], ordered: false },
];
const consoleOn = (overrides: Partial<ConsoleOptions> = {}) =>
  startConsole({
    databaseUrl: db.url,
    amqpUrl: broker.url,
    brokerEndpoints: resolveManagementEndpoint({ AMQP_URL: broker.url }),
    consumers,
    port: 0,
    logger,
    ...overrides,
  });

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('console-api')]);
  worker = createWorker({
    prisma: db.prisma,
    amqpUrl: broker.url,
    events: testEvents,
    logger,
    consumers: [
      defineConsumer<typeof testEvents, Tx>({
        name: 'confirm-order',
        events: ['order.placed'],
        async handle({ tx, messageId }) {
          await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
        },
      }),
      defineConsumer<typeof testEvents, Tx>({
        name: 'archive-anything',
        events: ['test.anything'],
        async handle({ tx, messageId, event }) {
          if (!poisonFixed && (event.payload as { poison?: boolean }).poison) throw new NonRetryableError(`cannot archive ${XSS}`);
          await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
        },
      }),
    ],
  });
  await worker.start();
  local = await consoleOn();
});
afterAll(async () => {
  await local?.close();
  await worker?.stop();
  await broker?.delete();
  await db?.drop();
});

async function relayOnce(): Promise<void> {
  const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger });
  try {
    await relay.runOnce();
  } finally {
    await relay.stop();
  }
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked by the assertions
const json = async (response: Response | Promise<Response>): Promise<any> => (await response).json();
const csrfOf = async (server: ConsoleServer, init: RequestInit = {}) =>
  /name="outbox-csrf" content="([0-9a-f]+)"/.exec(await (await fetch(server.url, init)).text())![1]!;
const post = (server: ConsoleServer, path: string, body: unknown, headers: Record<string, string>) =>
  fetch(new URL(path, server.url), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const effects = async (messageId: string) =>
  (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM demo_signup_log WHERE message_id = $1', [messageId])).rows[0]!.n;

/** A GET with a Host header of our choosing (fetch does not let one be set). */
function getWithHost(server: ConsoleServer, path: string, host: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.port, path, headers: { ...headers, host } }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('console API', () => {
  it("answers the operator's question: is order X's side effect done, and if not, why; then replays the dead letter once", async () => {
    const [orderMessage, poisonMessage] = await db.prisma.$transaction(async (tx) => [
      await outbox.publish(tx, orderPlaced, { orderId: ORDER_ID, totalCents: 4200 }, { key: ORDER_ID, correlationId: 'req-42' }),
      await outbox.publish(tx, anything, { poison: true, note: XSS }, { key: ORDER_ID, correlationId: 'req-42' }),
    ]);
    await relayOnce();
    await eventually(async () => (await effects(orderMessage)) === 1, 10_000, 'the order confirmed');
    await eventually(async () => (await broker.channel.checkQueue('archive-anything.dlq')).messageCount === 1, 10_000, 'the poison dead-lettered');

    // Overview: the consumers, their dead letters and last error.
    await eventually(
      async () => {
        const overview = await json(fetch(new URL('/api/overview', local.url)));
        const archive = overview.consumers.find((entry: { consumer: string }) => entry.consumer === 'archive-anything');
        return archive?.dead === 1 && archive.dlqDepth === 1 && archive.lastError?.error.includes('cannot archive');
      },
      // The management API's queue statistics refresh every ~5 s.
      20_000,
      'the overview counting the dead letter',
    );
    const overview = await json(fetch(new URL('/api/overview', local.url)));
    expect(overview.relay).toMatchObject({ pending: 0, failed: 0 });
    expect(overview.consumers.find((entry: { consumer: string }) => entry.consumer === 'confirm-order')).toMatchObject({ dead: 0, doneInWindow: 1 });

    // The journey, by ordering key (the order id), correlation id and message id.
    for (const search of [ORDER_ID, 'req-42', poisonMessage]) {
      const found = await json(fetch(new URL(`/api/messages?q=${encodeURIComponent(search)}`, local.url)));
      const poison = found.messages.find((message: { id: string }) => message.id === poisonMessage);
      expect(poison, search).toMatchObject({
        status: 'published',
        orderingKey: ORDER_ID,
        correlationId: 'req-42',
        consumers: [{ consumer: 'archive-anything', status: 'dead', attempts: 1, lastError: expect.stringContaining('cannot archive') }],
      });
    }
    const byKey = await json(fetch(new URL(`/api/messages?q=${ORDER_ID}`, local.url)));
    expect(byKey.matchedBy).toBe('orderingKey');
    expect(byKey.messages.find((message: { id: string }) => message.id === orderMessage).consumers).toEqual([
      expect.objectContaining({ consumer: 'confirm-order', status: 'done', attempts: 1 }),
    ]);

    // The dead letter, with its payload as sent: markup is JSON text, never HTML.
    const listing = await fetch(new URL('/api/dlq/archive-anything', local.url));
    expect(listing.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(listing.headers.get('x-content-type-options')).toBe('nosniff');
    const { deadLetters } = await json(listing);
    expect(deadLetters).toEqual([
      expect.objectContaining({ messageId: poisonMessage, reason: 'non-retryable', attempts: 1, correlationId: 'req-42', error: expect.stringContaining(XSS) }),
    ]);
    expect(JSON.parse(deadLetters[0].payload)).toEqual({ poison: true, note: XSS });
    expect(deadLetters[0].headers).toMatchObject({ 'outbox-dead-reason': 'non-retryable', 'outbox-ordering-key': ORDER_ID });

    // Replay it, with the page's CSRF token, once the handler is fixed: the effect once, recorded.
    poisonFixed = true;
    const csrf = await csrfOf(local);
    const replayed = await post(local, '/api/dlq/archive-anything/replay', { messageIds: [poisonMessage] }, { 'x-outbox-csrf': csrf });
    expect(replayed.status).toBe(200);
    expect(await json(replayed)).toEqual({ consumer: 'archive-anything', replayed: [poisonMessage] });
    await eventually(async () => (await effects(poisonMessage)) === 1, 10_000, 'the replayed message handled');
    const audit = await json(fetch(new URL('/api/audit', local.url)));
    expect(audit[0]).toMatchObject({
      actor: 'loopback',
      source: expect.stringMatching(/^console (127\.0\.0\.1|::ffff:127\.0\.0\.1)$/),
      action: 'dlq.replay',
      target: 'archive-anything',
      details: { messageIds: [poisonMessage], replayed: 1 },
    });
    const journey = await json(fetch(new URL(`/api/messages?q=${poisonMessage}`, local.url)));
    expect(journey.messages[0].consumers[0]).toMatchObject({ status: 'done', lastError: null });
  });

  it('retries failed outbox rows and lists the reconciler runs', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO outbox_message (id, event_type, payload, status, attempts, last_error)
       VALUES (gen_random_uuid(), 'test.anything', '{}', 'failed', 10, 'broker nack') RETURNING id::text`,
    );
    const csrf = await csrfOf(local);
    const retried = await post(local, '/api/relay/retry-failed', { all: true }, { 'x-outbox-csrf': csrf });
    expect(await json(retried)).toEqual({ retried: [rows[0]!.id] });
    const reconciler = createReconciler({ databaseUrl: db.url, amqpUrl: broker.url, events: testEvents, consumers: [], logger });
    await reconciler.runOnce();
    await reconciler.stop();
    const runs = await json(fetch(new URL('/api/reconciler/runs', local.url)));
    expect(runs[0]).toMatchObject({ status: 'done', scanned: expect.any(Number), rescheduled: 0, durationMs: expect.any(Number) });
  });

  it('refuses actions without the CSRF token, with another content type, or from another origin; purge needs the name', async () => {
    const csrf = await csrfOf(local);
    const refusals = await Promise.all([
      post(local, '/api/relay/retry-failed', { all: true }, {}),
      post(local, '/api/relay/retry-failed', { all: true }, { 'x-outbox-csrf': 'f'.repeat(64) }),
      fetch(new URL('/api/relay/retry-failed', local.url), {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'x-outbox-csrf': csrf },
        body: '{"all":true}',
      }),
      post(local, '/api/relay/retry-failed', { all: true }, { 'x-outbox-csrf': csrf, origin: 'http://evil.example' }),
      post(local, '/api/relay/retry-failed', { all: true }, { 'x-outbox-csrf': csrf, 'sec-fetch-site': 'cross-site' }),
    ]);
    for (const refused of refusals) {
      expect(refused.status).toBe(403);
      expect((await json(refused)).error.code).toBe('OUTBOX_CSRF_REFUSED');
    }
    const unconfirmed = await post(local, '/api/dlq/archive-anything/purge', { confirm: 'yes' }, { 'x-outbox-csrf': csrf });
    expect(unconfirmed.status).toBe(400);
    const unknown = await post(local, '/api/dlq/no-such-consumer/purge', { confirm: 'no-such-consumer' }, { 'x-outbox-csrf': csrf });
    expect(unknown.status).toBe(404);
    const purged = await post(local, '/api/dlq/archive-anything/purge', { confirm: 'archive-anything' }, { 'x-outbox-csrf': csrf });
    expect(await json(purged)).toEqual({ consumer: 'archive-anything', purged: 0 });
    // Nothing refused reached the audit log.
    const actions = await db.pool.query<{ action: string }>('SELECT action FROM outbox_audit_log ORDER BY id');
    expect(actions.rows.map((row) => row.action)).toEqual(['dlq.replay', 'relay.retry-failed', 'dlq.purge']);
  });

  it('serves the page with a strict Content-Security-Policy, and refuses a Host that is not loopback (DNS rebinding)', async () => {
    const page = await fetch(local.url);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(await getWithHost(local, '/api/overview', 'evil.example:8080')).toBe(421);
    expect(await getWithHost(local, '/api/overview', `localhost:${local.port}`)).toBe(200);
    // With a token (behind a reverse proxy keeping the public Host), any Host, with credentials.
    const token = 'a-long-random-console-token-0123456789';
    const proxied = await consoleOn({ token });
    try {
      expect(await getWithHost(proxied, '/api/overview', 'outbox.example.com')).toBe(401);
      expect(await getWithHost(proxied, '/api/overview', 'outbox.example.com', { authorization: `Bearer ${token}` })).toBe(200);
    } finally {
      await proxied.close();
    }
  });

  it('off loopback: refuses to start without a token; with one, refuses requests without credentials and records who acted', async () => {
    await expect(consoleOn({ host: '0.0.0.0' })).rejects.toMatchObject({
      code: 'OUTBOX_INVALID_OPTIONS',
      message: expect.stringContaining('OUTBOX_CONSOLE_TOKEN'),
    });
    await expect(consoleOn({ host: '0.0.0.0', token: 'short' })).rejects.toMatchObject({ code: 'OUTBOX_INVALID_OPTIONS' });
    const token = 'a-long-random-console-token-0123456789';
    const exposed = await consoleOn({ host: '0.0.0.0', token });
    try {
      const overview = new URL('/api/overview', `http://127.0.0.1:${exposed.port}/`);
      const anonymous = await fetch(overview);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toContain('Basic realm="outbox console"');
      expect((await fetch(`http://127.0.0.1:${exposed.port}/`)).status).toBe(401);
      expect((await fetch(overview, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
      expect((await fetch(overview, { headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` } })).status).toBe(401);
      expect((await fetch(overview, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);

      const alice = { authorization: `Basic ${Buffer.from(`alice:${token}`).toString('base64')}` };
      const csrf = await csrfOf({ ...exposed, url: `http://127.0.0.1:${exposed.port}/` }, { headers: alice });
      const purged = await fetch(`http://127.0.0.1:${exposed.port}/api/dlq/confirm-order/purge`, {
        method: 'POST',
        headers: { ...alice, 'content-type': 'application/json', 'x-outbox-csrf': csrf },
        body: JSON.stringify({ confirm: 'confirm-order' }),
      });
      expect(purged.status).toBe(200);
      const [entry] = (await db.pool.query('SELECT actor, action, target FROM outbox_audit_log ORDER BY id DESC LIMIT 1')).rows;
      expect(entry).toEqual({ actor: 'alice', action: 'dlq.purge', target: 'confirm-order' });
    } finally {
      await exposed.close();
    }
  });

  it('never shows a password: a broker refusing the login is a typed error without it', async () => {
    const secret = 'Sup3rSecretPw';
    const wrongLogin = await consoleOn({ amqpUrl: broker.url.replace('guest:guest@', `guest:${secret}@`) });
    try {
      const answer = await fetch(new URL('/api/dlq/confirm-order', wrongLogin.url));
      expect(answer.status).toBe(502);
      const text = await answer.text();
      expect(text).not.toContain(secret);
      expect(JSON.parse(text).error.code).toMatch(/^OUTBOX_BROKER_/);
    } finally {
      await wrongLogin.close();
    }
  });
});
