// The console's page in a real browser (Debian's Chromium, headless, driven by
// playwright-core) over a running pipeline: the counts change as the relay and the
// worker work, a dead letter holding markup is shown as text (no script runs), and
// replaying it from the page does its side effect once. A failure leaves a screenshot
// in test-results/console/.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, createRelay, createWorker, defineConsumer, NonRetryableError, type Relay, type Worker } from '../../src/index.js';
import { resolveManagementEndpoint } from '../../src/broker/resolveManagementEndpoint.js';
import { startConsole, type ConsoleServer } from '../../src/console/consoleServer.js';
import { anything, testEvents } from '../support/events.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">';
let db: TestDatabase;
let broker: TestBroker;
let worker: Worker;
let relay: Relay | undefined;
let server: ConsoleServer;
let browser: Browser;
let page: Page;
let handlerFixed = false;
const logger = pino({ level: 'silent' });
const outbox = createOutbox({ events: testEvents });

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('console-page')]);
  worker = createWorker({
    prisma: db.prisma,
    amqpUrl: broker.url,
    events: testEvents,
    logger,
    consumers: [
      defineConsumer<typeof testEvents, Tx>({
        name: 'archive',
        events: ['test.anything'],
        async handle({ tx, messageId, event }) {
          if (!handlerFixed && (event.payload as { poison?: boolean }).poison) throw new NonRetryableError('archive refused the document');
          await tx.signupLog.create({ data: { userId: randomUUID(), messageId } });
        },
      }),
    ],
  });
  await worker.start();
  server = await startConsole({
    databaseUrl: db.url,
    amqpUrl: broker.url,
    brokerEndpoints: resolveManagementEndpoint({ AMQP_URL: broker.url }),
    consumers: [{ name: 'archive', eventTypes: ['test.anything'], queues: ['archive'], ordered: false }],
    port: 0,
    logger,
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  page = await browser.newPage();
  // Every confirmation the page asks (replay, purge) is accepted.
  page.on('dialog', (dialog) => void dialog.accept());
});
afterEach(async (context) => {
  if (context.task.result?.state !== 'fail' || !page) return;
  await mkdir('test-results/console', { recursive: true });
  await page.screenshot({ path: `test-results/console/${context.task.name.replace(/\W+/g, '-')}.png`, fullPage: true }).catch(() => {});
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await relay?.stop();
  await worker?.stop();
  await broker?.delete();
  await db?.drop();
});

const effects = async (messageId: string) =>
  (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM demo_signup_log WHERE message_id = $1', [messageId])).rows[0]!.n;
const text = (testId: string) => page.getByTestId(testId).innerText();

describe('console page', () => {
  it('shows the pipeline live, shows a dead letter inert, replays it from the browser: its effect once', async () => {
    await page.goto(server.url);
    await expect.poll(() => text('relay-pending'), { timeout: 10_000 }).toContain('0');

    // Written, not yet published: the page shows them pending; then the relay publishes them.
    const ids = await db.prisma.$transaction((tx) =>
      outbox.publishMany(tx, [
        ...Array.from({ length: 4 }, (_, n) => ({ event: anything, payload: { n } })),
        { event: anything, payload: { poison: true, note: XSS } },
      ]),
    );
    const poison = ids[4]!;
    await expect.poll(() => text('relay-pending'), { timeout: 10_000 }).toMatch(/^5\b/);
    relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger, pollIntervalMs: 100 });
    await relay.start();
    await expect.poll(() => text('relay-pending'), { timeout: 10_000 }).toMatch(/^0\b/);
    // The consumer's row: four done, one dead, the DLQ holding it (the broker's statistics refresh every ~5 s).
    await expect.poll(() => page.getByTestId('consumer-archive').innerText(), { timeout: 20_000 }).toMatch(/archive\s+0\s+0\s+0\s+1\s+0\s+0\s+1\s+0\s+4\b/);
    expect(await text('consumer-archive')).toContain('archive refused the document');
    expect(await text('relay')).not.toContain('null');

    // The dead letter, opened from the consumer's DLQ count: its markup shown as text, never run.
    await page.getByTestId('dlq-link-archive').click();
    await page.getByTestId(`dlq-row-${poison}`).click();
    const payload = page.getByTestId('dlq-detail-payload');
    await expect.poll(() => payload.innerText()).toContain(JSON.stringify(XSS).slice(1, -1));
    expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator('#dlq-detail script, #dlq-detail img, #dlq-rows img').count()).toBe(0);
    expect(await text('dlq-detail-error')).toBe('NonRetryableError: archive refused the document');

    // Replayed from the page once the handler is fixed: done once, the DLQ empty, the action audited.
    handlerFixed = true;
    await page.getByTestId('dlq-replay-one').click();
    await expect.poll(() => text('notice')).toBe('replayed 1 dead letter(s) to archive');
    await eventually(async () => (await effects(poison)) === 1, 10_000, 'the replayed message handled');
    await expect.poll(() => page.getByTestId('dlq-table').innerText()).toContain('archive.dlq is empty');
    await page.getByRole('button', { name: 'Audit log' }).click();
    await expect.poll(() => page.getByTestId('audit-log').innerText()).toMatch(/loopback\s+console \S+\s+dlq\.replay\s+archive/);

    // Its journey: done by the consumer, after one failed attempt.
    await page.getByRole('button', { name: 'Message journey' }).click();
    await page.getByTestId('journey-search').fill(poison);
    await page.getByTestId('journey-search').press('Enter');
    await expect.poll(() => page.getByTestId('journey-consumer-archive').innerText()).toMatch(/^archive\s+done\s+1\b/);
    expect(await effects(poison)).toBe(1);
  });
});
