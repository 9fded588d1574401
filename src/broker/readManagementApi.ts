// What `outbox status` asks the RabbitMQ management API, in two requests sent
// together: who it is (/api/overview), and every queue's depth in the vhost in one
// listing (columns= keeps the answer small; a 404 means no such vhost, as
// /api/vhosts/<name> would say, but that one needs an administrator). One
// request per queue, one after the other, took ~2.4 s on a user's machine.
import type { ManagementEndpoint } from './resolveManagementEndpoint.js';

export type ManagementFailure = 'unreachable' | 'credentials-refused' | 'error';

export type ManagementReading =
  | {
      reached: true;
      clusterName: string | null;
      node: string | null;
      version: string | null;
      vhostExists: boolean;
      /**
       * Every queue of the vhost → its messages (ready + unacknowledged), as of the
       * broker's last statistics sample (every ~5 s); null for a queue declared
       * since, not sampled yet.
       */
      queues: Map<string, number | null>;
    }
  | { reached: false; failure: ManagementFailure; detail: string };

type Answer<T> = { ok: true; value: T } | { ok: false; failure: ManagementFailure; detail: string };

/** The innermost cause of a fetch failure: undici wraps ECONNREFUSED and friends in "fetch failed". */
function networkCause(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  let current: unknown = error;
  while (current instanceof Error && current.cause !== undefined) current = current.cause;
  const code = (current as { code?: string } | undefined)?.code;
  return code ?? (current instanceof Error ? current.message : String(current));
}

/** RabbitMQ's error bodies are {"error": ..., "reason": ...}; the reason is worth showing ("Login failed", "Not management user"). */
async function reasonOf(response: Response): Promise<string> {
  const body = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(body) as { reason?: unknown; error?: unknown };
    const reason = String(parsed.reason ?? parsed.error ?? '').slice(0, 200);
    return reason ? ` "${reason}"` : '';
  } catch {
    return '';
  }
}

interface Overview {
  cluster_name?: string;
  node?: string;
  rabbitmq_version?: string;
}

export async function readManagementApi(endpoint: ManagementEndpoint, vhost: string, timeoutMs: number): Promise<ManagementReading> {
  const authorization = `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password}`).toString('base64')}`;
  const signal = AbortSignal.timeout(timeoutMs);
  /** A 404 is `missing`; a refused login, no answer or anything else unexpected is a failure. */
  const get = async <T>(path: string, missing: T): Promise<Answer<T>> => {
    let response: Response;
    try {
      response = await fetch(`${endpoint.baseUrl}/api${path}`, { headers: { authorization, accept: 'application/json' }, signal });
    } catch (error) {
      return { ok: false, failure: 'unreachable', detail: networkCause(error) };
    }
    if (response.status === 401 || response.status === 403) {
      return { ok: false, failure: 'credentials-refused', detail: `HTTP ${response.status}${await reasonOf(response)}` };
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return { ok: true, value: missing };
    }
    if (!response.ok) return { ok: false, failure: 'error', detail: `HTTP ${response.status} for /api${path}${await reasonOf(response)}` };
    try {
      return { ok: true, value: (await response.json()) as T };
    } catch {
      return { ok: false, failure: 'error', detail: `/api${path} did not answer JSON: is ${endpoint.baseUrl} a RabbitMQ management API?` };
    }
  };
  const [overview, queues] = await Promise.all([
    get<Overview | null>('/overview?columns=cluster_name,node,rabbitmq_version', null),
    get<{ name: string; messages?: number }[] | null>(`/queues/${encodeURIComponent(vhost)}?columns=name,messages`, null),
  ]);
  if (!overview.ok || !queues.ok) {
    // The most telling failure wins: a refused login explains the others.
    const failures = [overview, queues].flatMap((answer) => (answer.ok ? [] : [answer]));
    const failure =
      failures.find((answer) => answer.failure === 'credentials-refused') ?? failures.find((answer) => answer.failure === 'unreachable') ?? failures[0]!;
    return { reached: false, failure: failure.failure, detail: failure.detail };
  }
  if (overview.value === null) {
    return { reached: false, failure: 'error', detail: `/api/overview answered 404: is ${endpoint.baseUrl} a RabbitMQ management API?` };
  }
  const depths = new Map<string, number | null>();
  for (const queue of queues.value ?? []) depths.set(queue.name, typeof queue.messages === 'number' ? queue.messages : null);
  return {
    reached: true,
    clusterName: overview.value.cluster_name ?? null,
    node: overview.value.node ?? null,
    version: overview.value.rabbitmq_version ?? null,
    vhostExists: queues.value !== null,
    queues: depths,
  };
}
