// The demo's verdict: every guarantee stated as a check over the facts the
// database and the broker hold after the run. Any failing check fails the demo.
import { DISCONTINUED_SKU, INITIAL_STOCK } from '../shop/catalog.js';
import type { RunFacts } from './facts.js';
import type { RequestResult } from './load.js';

export interface Check {
  name: string;
  expected: string;
  actual: string;
  passed: boolean;
}

export interface RunEvidence {
  facts: RunFacts;
  results: readonly RequestResult[];
  /** Rows mentioning a declined order's id, anywhere. */
  rolledBackTraces: number;
  /** Users holding the emails whose second signup was refused. */
  duplicateEmailUsers: number;
  duplicateEmails: number;
  /** Messages added to each dead-letter queue during the run. */
  deadLetterQueueGrowth: Map<string, number>;
  unroutableGrowth: number;
  chaosFailures: string[] | undefined;
}

const isPoison = (lines: { sku: string }[]) => lines.some((line) => line.sku === DISCONTINUED_SKU);

/** Side effects still owed (a poison order's reservation is owed until it is dead-lettered). */
export function missingEffects(facts: RunFacts): number {
  const dead = new Set(facts.inbox.filter((row) => row.status === 'dead').map((row) => `${row.consumer} ${row.messageId}`));
  let missing = [...facts.messages.values()].filter((message) => message.status !== 'published').length;
  for (const user of facts.users.values())
    missing += Number(user.events < 1) + Number(user.profiles < 1) + Number(user.signupLogs < 1) + Number(user.welcomeEmails < 1);
  for (const order of facts.orders.values()) {
    missing += Number(order.events < 1) + Number(order.confirmations < 1) + Number(order.analytics < 1) + Number(order.webhooks < 1);
    if (isPoison(order.lines)) missing += Number(!dead.has(`reserve-inventory ${order.messageId}`));
    else missing += Number(order.reservations < 1);
  }
  return missing;
}

export function verifyRun(evidence: RunEvidence): Check[] {
  const { facts, results } = evidence;
  const checks: Check[] = [];
  const check = (name: string, expected: number | string, actual: number | string) =>
    checks.push({ name, expected: String(expected), actual: String(actual), passed: String(expected) === String(actual) });
  const users = [...facts.users.values()];
  const orders = [...facts.orders.values()];
  const poisoned = orders.filter((order) => isPoison(order.lines));
  const stocked = orders.filter((order) => !isPoison(order.lines));
  const exactlyOnce = <T>(rows: T[], field: (row: T) => number) => rows.filter((row) => field(row) === 1).length;

  const failedRequests = results.filter((result) => result.status === 0 || result.status >= 500).length;
  check(
    'the outbox endpoints answered every request (no 5xx, no timeout)',
    `${results.length} of ${results.length}`,
    `${results.length - failedRequests} of ${results.length}`,
  );
  const acceptedSignups = results.filter((result) => result.kind === 'signup' && result.status === 201).length;
  const acceptedOrders = results.filter((result) => (result.kind === 'order' || result.kind === 'poison-order') && result.status === 201).length;
  check('committed signups in the database = signups answered 201', acceptedSignups, users.length);
  check('committed orders in the database = orders answered 201', acceptedOrders, orders.length);

  check(
    'signups with exactly one user.signed-up event',
    users.length,
    exactlyOnce(users, (user) => user.events),
  );
  check(
    '  welcome email sent exactly once (email provider)',
    users.length,
    exactlyOnce(users, (user) => user.welcomeEmails),
  );
  check(
    '  profile created exactly once',
    users.length,
    exactlyOnce(users, (user) => user.profiles),
  );
  check(
    '  signup logged exactly once',
    users.length,
    exactlyOnce(users, (user) => user.signupLogs),
  );
  check(
    'orders with exactly one order.placed event',
    orders.length,
    exactlyOnce(orders, (order) => order.events),
  );
  check(
    '  confirmation email sent exactly once',
    orders.length,
    exactlyOnce(orders, (order) => order.confirmations),
  );
  check(
    '  stock reserved exactly once (one reservation per line)',
    stocked.length,
    stocked.filter((order) => order.reservations === order.lines.length).length,
  );
  check(
    '  analytics recorded exactly once',
    orders.length,
    exactlyOnce(orders, (order) => order.analytics),
  );
  check(
    '  partner webhook notified exactly once',
    orders.length,
    exactlyOnce(orders, (order) => order.webhooks),
  );

  const deadRows = facts.inbox.filter((row) => row.status === 'dead');
  const poisonMessages = new Set(poisoned.map((order) => order.messageId));
  const expectedDead = deadRows.filter((row) => row.consumer === 'reserve-inventory' && poisonMessages.has(row.messageId));
  check(
    'poison orders (discontinued SKU): reservation dead-lettered, nothing reserved',
    poisoned.length,
    poisoned.filter((order) => order.reservations === 0 && expectedDead.some((row) => row.messageId === order.messageId)).length,
  );
  check('dead letters that were not made to fail', 0, deadRows.length - expectedDead.length);
  const growthText = (growth: Iterable<[string, number]>) =>
    [...growth]
      .filter(([, count]) => count !== 0)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([queue, count]) => `${queue} +${count}`)
      .join(', ') || 'none';
  check(
    'dead-letter queues (broker) = dead inbox rows (database)',
    growthText([...facts.deadSince].map(([consumer, count]) => [`${consumer}.dlq`, count])),
    growthText(evidence.deadLetterQueueGrowth),
  );

  const declined = results.filter((result) => result.kind === 'declined-order' && result.status === 402).length;
  check(
    'declined orders (card refused after the event was written) answered 402',
    results.filter((result) => result.kind === 'declined-order').length,
    declined,
  );
  check('  rows anywhere naming a declined order (order, event, side effect)', 0, evidence.rolledBackTraces);
  check('refused duplicate signups: one user per email, no second event', evidence.duplicateEmails, evidence.duplicateEmailUsers);
  check('side effects naming no committed user or order', 0, facts.orphanProviderCalls + facts.orphanReservations);

  const statuses = [...facts.messages.values()];
  check('events published with broker confirms', statuses.length, statuses.filter((message) => message.status === 'published').length);
  check('events in outbox.unroutable', 0, evidence.unroutableGrowth);
  check(
    'stock adds up: available + reserved = initial, per SKU',
    facts.stock.length,
    facts.stock.filter((item) => item.available + item.reserved === INITIAL_STOCK).length,
  );
  if (evidence.chaosFailures)
    check('faults injected as planned', 'all', evidence.chaosFailures.length === 0 ? 'all' : `failed: ${evidence.chaosFailures.join('; ')}`);
  return checks;
}

export function formatChecks(checks: readonly Check[]): string {
  const width = Math.max(...checks.map((row) => row.name.length));
  const valueWidth = Math.max(8, ...checks.flatMap((row) => [row.expected.length, row.actual.length]).map((length) => Math.min(length, 40)));
  const lines = [`  ${'check'.padEnd(width)}  ${'expected'.padStart(valueWidth)}  ${'actual'.padStart(valueWidth)}  result`];
  for (const row of checks)
    lines.push(`  ${row.name.padEnd(width)}  ${row.expected.padStart(valueWidth)}  ${row.actual.padStart(valueWidth)}  ${row.passed ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}
