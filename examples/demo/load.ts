// The load: signups and orders sent to the API at a steady rate (open loop: a slow
// answer does not slow the next request down), with the requests that must fail
// mixed in: a duplicate email (409), a declined card (402, rolled back), and an
// order for a SKU the warehouse dropped (accepted; its reservation is the poison).
import { DECLINED_CARD, DISCONTINUED_SKU, STOCKED_SKUS } from '../shop/catalog.js';

export type RequestKind = 'signup' | 'duplicate-signup' | 'order' | 'declined-order' | 'poison-order' | 'inline-order';

export interface RequestResult {
  kind: RequestKind;
  /** HTTP status; 0 when the request itself failed (connection refused, timeout). */
  status: number;
  latencyMs: number;
  body: { userId?: string; orderId?: string; error?: string };
  email?: string;
}

export interface LoadPlan {
  kinds: RequestKind[];
  runId: string;
}

const MAX_IN_FLIGHT = 256;
const REQUEST_TIMEOUT_MS = 30_000;

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

export function planLoad(signups: number, orders: number, runId: string): LoadPlan {
  const duplicates = signups >= 10 ? Math.max(1, Math.round(signups * 0.03)) : 0;
  const declined = orders >= 10 ? Math.max(1, Math.round(orders * 0.05)) : 0;
  const poison = orders >= 5 ? Math.max(1, Math.round(orders * 0.02)) : 0;
  const rest: RequestKind[] = [
    ...Array<RequestKind>(signups - duplicates - Math.min(3, signups)).fill('signup'),
    ...Array<RequestKind>(duplicates).fill('duplicate-signup'),
    ...Array<RequestKind>(orders - declined - poison).fill('order'),
    ...Array<RequestKind>(declined).fill('declined-order'),
    ...Array<RequestKind>(poison).fill('poison-order'),
  ];
  for (let index = rest.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [rest[index], rest[other]] = [rest[other]!, rest[index]!];
  }
  // A few signups first, so that the first orders have customers.
  return { kinds: [...Array<RequestKind>(Math.min(3, signups)).fill('signup'), ...rest], runId };
}

function orderLines(kind: RequestKind) {
  const lines = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => ({ sku: pick(STOCKED_SKUS), quantity: 1 + Math.floor(Math.random() * 3) }));
  const distinct = lines.filter((line, index) => lines.findIndex((other) => other.sku === line.sku) === index);
  return kind === 'poison-order' ? [...distinct, { sku: DISCONTINUED_SKU, quantity: 1 }] : distinct;
}

async function post(url: string, body: unknown): Promise<{ status: number; body: RequestResult['body'] }> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return { status: response.status, body: (await response.json().catch(() => ({}))) as RequestResult['body'] };
  } catch (error) {
    return { status: 0, body: { error: error instanceof Error ? error.message : String(error) } };
  }
}

/** Sends the plan at `rate` requests per second; `progress(sent)` is called as requests go out (the chaos schedule). */
export async function runLoad(options: {
  apiUrl: string;
  plan: LoadPlan;
  rate: number;
  users?: string[];
  progress?(sent: number): void;
}): Promise<RequestResult[]> {
  const results: RequestResult[] = [];
  const users: string[] = [...(options.users ?? [])];
  const emails: string[] = [];
  let firstUser: (() => void) | undefined;
  const haveUser = users.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => (firstUser = resolve));
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();

  const send = async (kind: RequestKind, index: number) => {
    let path = '/orders';
    let body: unknown;
    let email: string | undefined;
    if (kind === 'signup' || kind === 'duplicate-signup') {
      path = '/signups';
      if (kind === 'duplicate-signup') await haveUser;
      email = kind === 'signup' ? `${options.plan.runId}-${index}@shop.example` : pick(emails);
      body = { email, name: `Customer ${index}` };
    } else {
      await haveUser;
      if (kind === 'inline-order') path = '/inline/orders';
      body = { userId: pick(users), lines: orderLines(kind), card: kind === 'declined-order' ? DECLINED_CARD : 'tok_visa' };
    }
    const requestStarted = performance.now();
    const answer = await post(`${options.apiUrl}${path}`, body);
    const result: RequestResult = {
      kind,
      status: answer.status,
      latencyMs: performance.now() - requestStarted,
      body: answer.body,
      ...(email ? { email } : {}),
    };
    if (kind === 'signup' && answer.status === 201 && answer.body.userId) {
      users.push(answer.body.userId);
      emails.push(email!);
      firstUser?.();
    }
    results.push(result);
  };

  for (const [index, kind] of options.plan.kinds.entries()) {
    const due = started + (index * 1000) / options.rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    const request = send(kind, index).finally(() => inFlight.delete(request));
    inFlight.add(request);
    options.progress?.(index + 1);
  }
  await Promise.all(inFlight);
  return results;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
