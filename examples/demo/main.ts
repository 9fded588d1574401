// npm run demo: the shop, whole. Its API, the simulated providers, two relays, two
// workers and the reconciler run as real processes; a load of signups and orders
// goes through the API while faults are injected (unless --no-chaos); then every
// guarantee is checked from the database and the broker, and the outbox endpoint
// is compared with the old inline one. Exits non-zero if any check fails.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import pg from 'pg';
import { redactUrl } from '../../src/logging/redactUrl.js';
import { SHOP_CONSUMER_NAMES } from '../shop/consumers.js';
import { brokerAdmin } from './brokerAdmin.js';
import { chaosSteps, scheduleChaos } from './chaos.js';
import { endpointFigures, formatComparison } from './comparison.js';
import { countTraces, readRunFacts, usersWithEmails, type RunFacts } from './facts.js';
import { planLoad, runLoad, type RequestKind } from './load.js';
import { parseDemoOptions } from './options.js';
import { demoProcess, stopAll, type DemoProcess } from './processes.js';
import { formatProgress, showProgress } from './progress.js';
import { formatChecks, missingEffects, verifyRun } from './verify.js';

const options = parseDemoOptions(process.argv.slice(2));
if (options.breakInbox && !process.env.DATABASE_URL) {
  // It leaves duplicate effects, dead letters and re-scheduled work behind.
  console.error('--break-inbox is a self-test: point DATABASE_URL (and AMQP_URL, at a vhost) at scratch ones, not at the demo database');
  process.exit(2);
}
const databaseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/outbox_demo';
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const runId = randomUUID().slice(0, 8);
const logDir = `.demo/logs/${new Date().toISOString().replace(/[:.]/g, '-')}-${runId}`;
const QUIET_MS = 3_000;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

console.log(`Outbox demo, run ${runId}: ${redactUrl(databaseUrl)}, ${amqpUrl.split(',').map(redactUrl).join(', ')}`);
console.log(
  `${options.signups} signups and ${options.orders} orders at ${options.rate}/s; providers fail ${(options.failRate * 100).toFixed(1)}% of calls; chaos ${options.chaos ? 'on' : 'off'}\n`,
);

const pool = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: 'outbox-demo' });
pool.on('error', () => {});
const broker = brokerAdmin(amqpUrl);
const processes: DemoProcess[] = [];
let apiUrl = process.env.API_URL ?? 'http://127.0.0.1:3000';
let providersUrl = process.env.PROVIDERS_URL ?? 'http://127.0.0.1:3001';

const shutDown = async () => {
  await stopAll(processes);
  await pool.end();
};
process.once('SIGINT', () => void shutDown().finally(() => process.exit(130)));

try {
  const runStart = (await pool.query<{ now: Date }>('SELECT now()')).rows[0]!.now;
  const dlqNames = SHOP_CONSUMER_NAMES.map((name) => `${name}.dlq`);
  const depthsBefore = new Map(await Promise.all([...dlqNames, 'outbox.unroutable'].map(async (queue) => [queue, await broker.queueDepth(queue)] as const)));

  if (!options.attach) {
    mkdirSync(logDir, { recursive: true });
    const [apiPort, providersPort] = await Promise.all([freePort(), freePort()]);
    apiUrl = `http://127.0.0.1:${apiPort}`;
    providersUrl = `http://127.0.0.1:${providersPort}`;
    const env = { DATABASE_URL: databaseUrl, AMQP_URL: amqpUrl, PROVIDERS_URL: providersUrl, ...(options.breakInbox ? { DEMO_BREAK_INBOX: '1' } : {}) };
    const config = ['--config', 'examples/shop/outbox.config.ts'];
    const spawnDemo = (name: string, script: string, args: string[], ready: RegExp, extraEnv: Record<string, string> = {}) => {
      const started = demoProcess({ name, script, args, env: { ...env, ...extraEnv }, logFile: `${logDir}/${name}.log`, ready });
      processes.push(started);
      return started;
    };
    spawnDemo('providers', 'examples/shop/providerServer.ts', [], /"listening"/, {
      PORT: String(providersPort),
      PROVIDER_LATENCY_MS: String(options.latencyMs),
      PROVIDER_FAIL_RATE: String(options.failRate),
    });
    spawnDemo('api', 'examples/shop/apiServer.ts', [], /"listening"/, { PORT: String(apiPort) });
    for (const name of ['worker-1', 'worker-2']) spawnDemo(name, 'src/cli/main.ts', ['worker', ...config], /"consuming"/);
    for (const name of ['relay-1', 'relay-2']) spawnDemo(name, 'src/cli/main.ts', ['relay'], /"relay started"/);
    // Every 5 s, judging messages older than 6 s: the demo cannot wait an hour.
    spawnDemo('reconciler', 'src/cli/main.ts', ['reconcile', ...config, '--schedule', '*/5 * * * * *', '--grace', '6s'], /"reconciler scheduled"/);
    const startedAt = Date.now();
    await Promise.all(processes.map((each) => each.start()));
    console.log(`started ${processes.map((each) => each.name).join(', ')} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; logs in ${logDir}/`);
  }
  if (options.attach) {
    // The workers elsewhere declare the queues; an event published before they are
    // bound would reach none of them.
    const deadline = Date.now() + 120_000;
    while (!(await Promise.all(SHOP_CONSUMER_NAMES.map((name) => broker.queueExists(name)))).every(Boolean)) {
      if (Date.now() > deadline) throw new Error(`the workers' queues (${SHOP_CONSUMER_NAMES.join(', ')}) do not exist after 120 s: are the workers running?`);
      await sleep(1_000);
    }
  }
  console.log(`API ${apiUrl}, providers ${providersUrl}\n`);

  // The load, with the faults.
  const plan = planLoad(options.signups, options.orders, runId);
  const chaosReport: string[] = [];
  let sent = 0;
  const progressLine = showProgress(pool, runStart, (progress) => formatProgress((Date.now() - runStart.getTime()) / 1000, sent, plan.kinds.length, progress));
  const chaos = options.chaos
    ? scheduleChaos(
        chaosSteps({
          pool,
          runStart,
          broker,
          providersUrl,
          relay: processes.find((each) => each.name === 'relay-1'),
          worker: processes.find((each) => each.name === 'worker-2'),
        }),
        plan.kinds.length,
        (line) => {
          chaosReport.push(line);
          progressLine.interrupt(line);
        },
      )
    : undefined;
  const loadStarted = Date.now();
  const results = await runLoad({
    apiUrl,
    plan,
    rate: options.rate,
    progress: (count) => {
      sent = count;
      chaos?.progress(count);
    },
  });
  await chaos?.done();
  const loadSeconds = (Date.now() - loadStarted) / 1000;
  progressLine.interrupt(`load done: ${results.length} requests in ${loadSeconds.toFixed(1)} s; waiting for every side effect`);

  // Settle: every owed side effect done (or dead-lettered), then quiet for a while.
  const settleDeadline = Date.now() + options.settleTimeoutMs;
  let facts: RunFacts = await readRunFacts(pool, runStart);
  let quietSince = Date.now();
  let lastShape = '';
  for (;;) {
    const shape = JSON.stringify([
      [...facts.users.values()],
      [...facts.orders.values()].map((order) => [order.reservations, order.confirmations, order.analytics, order.webhooks]),
      facts.inbox.length,
    ]);
    if (shape !== lastShape) [lastShape, quietSince] = [shape, Date.now()];
    const missing = missingEffects(facts);
    if (missing === 0 && Date.now() - quietSince >= QUIET_MS) break;
    if (Date.now() > settleDeadline) {
      progressLine.interrupt(`gave up waiting after ${options.settleTimeoutMs / 1000} s: ${missing} side effects still missing`);
      break;
    }
    await sleep(500);
    facts = await readRunFacts(pool, runStart);
  }
  progressLine.stop();
  console.log(`settled ${((Date.now() - loadStarted) / 1000 - loadSeconds).toFixed(1)} s after the last request\n`);

  // The verdict, from the database and the broker.
  const depthsAfter = new Map(await Promise.all([...depthsBefore.keys()].map(async (queue) => [queue, await broker.queueDepth(queue)] as const)));
  const growth = (queue: string) => (depthsAfter.get(queue) ?? 0) - (depthsBefore.get(queue) ?? 0);
  const duplicateEmails = [...new Set(results.filter((result) => result.kind === 'duplicate-signup' && result.status === 409).map((result) => result.email!))];
  const checks = verifyRun({
    facts,
    results,
    rolledBackTraces: await countTraces(
      pool,
      results.filter((result) => result.kind === 'declined-order' && result.body.orderId).map((result) => result.body.orderId!),
    ),
    duplicateEmails: duplicateEmails.length,
    duplicateEmailUsers: await usersWithEmails(pool, duplicateEmails),
    deadLetterQueueGrowth: new Map(dlqNames.map((queue) => [queue, growth(queue)])),
    unroutableGrowth: growth('outbox.unroutable'),
    chaosFailures: options.chaos ? chaosReport.filter((line) => line.includes('FAILED to inject')) : undefined,
  });
  console.log('Verification (from the database and the broker):');
  console.log(formatChecks(checks));

  const workerLogs = processes.filter((each) => each.name.startsWith('worker')).map((each) => readFileSync(each.logFile, 'utf8'));
  const absorbed = workerLogs.reduce((sum, text) => sum + duplicatesInSummaries(text), 0);
  const retried = facts.inbox.filter((row) => row.attempts > 1);
  console.log('\nWhat it took:');
  console.log(`  side effects retried                          ${retried.length} (${retried.reduce((sum, row) => sum + row.attempts - 1, 0)} retries)`);
  console.log(`  poison messages dead-lettered (and alerted)   ${facts.inbox.filter((row) => row.status === 'dead').length}`);
  console.log(`  duplicate deliveries absorbed by the inbox    ${options.attach ? 'n/a (worker logs elsewhere)' : absorbed}`);
  console.log(`  repeated provider calls deduplicated by key   ${facts.duplicateProviderCalls}`);
  console.log(`  side effects re-scheduled by the reconciler   ${facts.rescheduled}`);
  console.log(`  event commit to side effect done              p50 ${facts.latencyP50Ms.toFixed(0)} ms, p99 ${facts.latencyP99Ms.toFixed(0)} ms`);
  const answered = endpointFigures(results);
  console.log(
    `  API answers during all this                   p50 ${answered.p50Ms.toFixed(0)} ms, p99 ${answered.p99Ms.toFixed(0)} ms, ${answered.errors} errors`,
  );

  if (options.comparison && options.orders > 0) {
    // Fresh orders, alternating between the two endpoints, so that both see the same
    // machine, the same providers and the same load (--rate in all; no faults now).
    const count = options.orders;
    const each = options.rate / 2;
    console.log(
      `\nThe brittle endpoint: ${count} orders through each of POST /orders and the old POST /inline/orders (every side effect called inline), alternating, ${each}/s each:`,
    );
    const kinds = Array.from({ length: 2 * count }, (_, index): RequestKind => (index % 2 === 0 ? 'order' : 'inline-order'));
    const compared = await runLoad({ apiUrl, plan: { kinds, runId }, rate: options.rate, users: [...facts.users.keys()] });
    console.log(
      formatComparison(
        endpointFigures(compared.filter((result) => result.kind === 'order')),
        endpointFigures(compared.filter((result) => result.kind === 'inline-order')),
      ),
    );
  }

  console.log(`\nManagement console: ${broker.managementUrl} (the AMQP user's credentials). Look at:`);
  console.log('  Exchanges: outbox.events (topic; routing key = event type), outbox.dlx, outbox.unroutable');
  console.log(`  Queues: ${SHOP_CONSUMER_NAMES.join(', ')}`);
  console.log('          their .retry.* delay queues, reserve-inventory.dlq (the poison orders), outbox.unroutable');
  console.log('  Or: npm run outbox -- status --config examples/shop/outbox.config.ts;  npm run outbox -- dlq list reserve-inventory');
  const failed = checks.filter((row) => !row.passed);
  console.log(failed.length === 0 ? `\nAll ${checks.length} checks passed.` : `\n${failed.length} of ${checks.length} checks FAILED.`);
  process.exitCode = failed.length === 0 ? 0 : 1;
} catch (error) {
  console.error(`\nthe demo could not run: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
} finally {
  await shutDown();
}

/** Duplicate deliveries the inbox skipped, added up from a worker's "consumer summary" log lines. */
function duplicatesInSummaries(log: string): number {
  let total = 0;
  for (const line of log.split('\n')) {
    if (!line.includes('"consumer summary"')) continue;
    try {
      total += (JSON.parse(line) as { duplicates?: number }).duplicates ?? 0;
    } catch {
      // not a JSON line (a stack printed by a crash): not a summary
    }
  }
  return total;
}
