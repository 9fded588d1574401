// The monitoring files shipped in docs/monitoring: the alert rules are valid and
// behave as their unit tests say (promtool), the dashboard's queries parse, and every
// metric they query is one the relay, the worker or the reconciler exports (and the
// dashboard and docs/monitoring.md show every one exported).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReconciler, createRelay, createWorker, defineConsumer } from '../../src/index.js';
import { testEvents } from '../support/events.js';
import { createTestBroker, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const docs = path.resolve(here, '../../docs');
const alertsFile = path.join(docs, 'monitoring/prometheus-alerts.yml');
const dashboardFile = path.join(docs, 'monitoring/grafana-dashboard.json');
const promtool = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';
const logger = pino({ level: 'silent' });

interface Dashboard {
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; query?: unknown; definition?: string }[] };
}

const alertsText = () => readFile(alertsFile, 'utf8');
const alertNames = (text: string) => [...text.matchAll(/^\s*- alert: (\w+)$/gm)].map((match) => match[1]!);
/** Each rule's expression: on its line, or a block (`expr: |`) of the lines indented below it. */
function alertExprs(text: string): string[] {
  const lines = text.split('\n');
  return lines.flatMap((line, index) => {
    const match = /^(\s*)expr: (.+)$/.exec(line);
    if (!match) return [];
    if (match[2] !== '|') return [match[2]!];
    const block: string[] = [];
    for (const next of lines.slice(index + 1)) {
      if (next.trim() !== '' && next.search(/\S/) <= match[1]!.length) break;
      block.push(next.trim());
    }
    return [block.join(' ')];
  });
}
const dashboard = async (): Promise<Dashboard> => JSON.parse(await readFile(dashboardFile, 'utf8')) as Dashboard;
const dashboardExprs = (board: Dashboard) => board.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
const variableQueries = (board: Dashboard) => board.templating.list.flatMap((variable) => (variable.definition ? [variable.definition] : []));
const metricNames = (exprs: string[]) => new Set(exprs.flatMap((expr) => [...expr.matchAll(/\boutbox_[a-z_]+/g)].map((match) => match[0])));

describe('monitoring files', () => {
  it('the alert rules are valid Prometheus rules', async () => {
    const { stdout } = await run(promtool, ['check', 'rules', alertsFile]);
    expect(stdout).toContain(`SUCCESS: ${alertNames(await alertsText()).length} rules found`);
  });

  it('every alert fires as its promtool unit test says, and every alert has one', async () => {
    const tests = await readFile(path.join(here, 'alertRules.promtool.yml'), 'utf8');
    const tested = new Set([...tests.matchAll(/alertname: (\w+)/g)].map((match) => match[1]));
    for (const alert of alertNames(await alertsText())) expect(tested, `a unit test for ${alert}`).toContain(alert);
    const { stdout } = await run(promtool, ['test', 'rules', 'alertRules.promtool.yml'], { cwd: here });
    expect(stdout).toContain('SUCCESS');
  });

  it("the dashboard's queries are valid PromQL (checked by promtool as recording rules)", async () => {
    const board = await dashboard();
    const exprs = dashboardExprs(board);
    expect(exprs.length).toBeGreaterThan(10);
    // Grafana's variables, as Grafana would substitute them.
    const substituted = exprs.map((expr) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$consumer', '.*').replaceAll('$event_type', '.*'));
    const rules = substituted.map((expr, index) => `      - record: dashboard:query_${index}\n        expr: ${JSON.stringify(expr)}\n`).join('');
    const dir = await mkdtemp(path.join(tmpdir(), 'outbox-dashboard-'));
    try {
      const file = path.join(dir, 'dashboard-queries.yml');
      await writeFile(file, `groups:\n  - name: dashboard\n    rules:\n${rules}`);
      const { stdout } = await run(promtool, ['check', 'rules', file]);
      expect(stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    for (const query of variableQueries(board)) expect(query).toMatch(/^label_values\(outbox_[a-z_]+, [a-z_]+\)$/);
  });

  describe('against what the package exports', () => {
    let db: TestDatabase;
    let broker: TestBroker;
    /** Every series name a registry holding a relay, a worker (plain and ordered consumers) and a reconciler exposes. */
    let exported: Set<string>;
    /** The metric families themselves (a histogram once, not as _bucket/_sum/_count). */
    let families: string[];

    beforeAll(async () => {
      [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('monitoring')]);
      const registry = new Registry();
      const consumers = [
        defineConsumer({ name: 'monitored-plain', events: ['test.anything'], async handle() {} }),
        defineConsumer({ name: 'monitored-ordered', events: ['test.anything'], ordered: true, async handle() {} }),
      ];
      const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger, metrics: registry });
      const worker = createWorker({ prisma: db.prisma, amqpUrl: broker.url, events: testEvents, consumers, logger, metrics: registry });
      const reconciler = createReconciler({ databaseUrl: db.url, amqpUrl: broker.url, events: testEvents, consumers, logger, metrics: registry });
      try {
        await worker.start();
        await relay.runOnce();
        await reconciler.runOnce();
        const metrics = (await registry.getMetricsAsJSON()).filter((metric) => metric.name.startsWith('outbox_'));
        families = metrics.map((metric) => metric.name);
        exported = new Set(
          metrics.flatMap((metric) =>
            String(metric.type) === 'histogram' ? [`${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`] : [metric.name],
          ),
        );
      } finally {
        await Promise.all([relay.stop(), worker.stop(), reconciler.stop()]);
      }
    });
    afterAll(async () => {
      await broker?.delete();
      await db?.drop();
    });

    it('every metric the alerts and the dashboard query is exported', async () => {
      const board = await dashboard();
      const alerts = await alertsText();
      expect(alertExprs(alerts)).toHaveLength(alertNames(alerts).length);
      const queried = metricNames([...alertExprs(alerts), ...dashboardExprs(board), ...variableQueries(board)]);
      expect(queried.size).toBeGreaterThan(10);
      for (const name of queried) expect(exported, `${name} is exported`).toContain(name);
    });

    it('the dashboard and docs/monitoring.md show every exported metric', async () => {
      const onDashboard = metricNames(dashboardExprs(await dashboard()));
      const monitoringDoc = await readFile(path.join(docs, 'monitoring.md'), 'utf8');
      expect(families.length).toBeGreaterThanOrEqual(17);
      for (const family of families) {
        const shown = [...onDashboard].some((name) => name === family || name.replace(/_(bucket|sum|count)$/, '') === family);
        expect(shown, `${family} on the dashboard`).toBe(true);
        expect(monitoringDoc, `${family} in docs/monitoring.md`).toContain(`\`${family}`);
      }
      for (const alert of alertNames(await alertsText())) expect(monitoringDoc, `${alert} in docs/monitoring.md`).toContain(alert);
    });
  });
});
