// The rabbitmq-mode harness's own vhost, made and deleted through the management
// API: every exchange, queue and connection the harness's relay and worker open
// lives there, and deleting the vhost removes them all at once.
import { randomBytes } from 'node:crypto';
import { parseAmqpUrls } from '../broker/amqpUrls.js';
import { resolveManagementEndpoint, type ManagementEndpoint } from '../broker/resolveManagementEndpoint.js';
import { OutboxError } from '../errors.js';
import { redactUrl } from '../logging/redactUrl.js';

export interface PrivateVhost {
  name: string;
  /** The broker's URLs, each opening the private vhost. */
  amqpUrls: string[];
  delete(): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 10_000;

async function request(endpoint: ManagementEndpoint, method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<Response> {
  const authorization = `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password}`).toString('base64')}`;
  try {
    return await fetch(`${endpoint.baseUrl}/api${path}`, {
      method,
      headers: { authorization, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    throw new OutboxError(
      'OUTBOX_HARNESS_SETUP_FAILED',
      `the test harness makes a private vhost through the RabbitMQ management API, and ${endpoint.baseUrl} did not answer ` +
        '(enable it with `rabbitmq-plugins enable rabbitmq_management`, or point RABBITMQ_MANAGEMENT_URL at it)',
      { cause: error },
    );
  }
}

async function call(endpoint: ManagementEndpoint, method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<void> {
  const response = await request(endpoint, method, path, body);
  const text = await response.text().catch(() => '');
  if (response.ok || (method === 'DELETE' && response.status === 404)) return;
  const user = JSON.stringify(endpoint.username);
  const why =
    response.status === 401
      ? `the management API refused the login of user ${user} (a wrong password, or a user without a management tag)`
      : response.status === 403
        ? `user ${user} may not create vhosts (it needs the administrator tag, e.g. \`rabbitmqctl set_user_tags ${endpoint.username} administrator\`)`
        : `HTTP ${response.status} ${text.slice(0, 200)}`;
  throw new OutboxError('OUTBOX_HARNESS_SETUP_FAILED', `the test harness could not ${method === 'PUT' ? 'create' : 'delete'} its vhost (${path}): ${why}`);
}

const PREFIX = 'outbox-harness-';
/** A harness vhost older than this, with no connection left, belongs to a run that died without stop(). */
const ABANDONED_AFTER_MS = 15 * 60 * 1000;

/**
 * Deletes the vhosts of earlier runs that never called stop() (a crash, a watch run cut short):
 * each says when it was made, and one still in use has its worker's and relay's connections.
 * Best effort: a failure here never fails the new harness.
 */
async function sweepAbandoned(endpoint: ManagementEndpoint): Promise<void> {
  try {
    const listing = await request(endpoint, 'GET', '/vhosts?columns=name,description');
    if (!listing.ok) return;
    const vhosts = (await listing.json()) as { name: string; description?: string }[];
    for (const { name, description } of vhosts) {
      const createdAt = Date.parse(/created (\S+)/.exec(description ?? '')?.[1] ?? '');
      if (!name.startsWith(PREFIX) || !(Date.now() - createdAt > ABANDONED_AFTER_MS)) continue;
      const connections = await request(endpoint, 'GET', `/vhosts/${encodeURIComponent(name)}/connections?columns=name`);
      if (connections.ok && ((await connections.json()) as unknown[]).length === 0) await call(endpoint, 'DELETE', `/vhosts/${encodeURIComponent(name)}`);
    }
  } catch {
    // The next harness tries again.
  }
}

/** Vhosts made by this process and not deleted yet: named on stderr if the process exits first. */
const undeleted = new Set<string>();
process.once('exit', () => {
  if (undeleted.size === 0) return;
  process.stderr.write(
    `prisma-rabbitmq-outbox/testing: ${undeleted.size} test harness(es) not stopped: vhost(s) ${[...undeleted].join(', ')} left on the broker ` +
      '(call harness.stop() in afterAll; the next harness deletes vhosts abandoned for 15 minutes)\n',
  );
});

export async function createPrivateVhost(amqpUrl: string): Promise<PrivateVhost> {
  const urls = parseAmqpUrls(amqpUrl);
  const { management } = resolveManagementEndpoint({ AMQP_URL: urls.join(','), RABBITMQ_MANAGEMENT_URL: process.env.RABBITMQ_MANAGEMENT_URL });
  if (!management) throw new OutboxError('OUTBOX_HARNESS_SETUP_FAILED', `no management API for ${redactUrl(urls[0]!)}`);
  const name = `${PREFIX}${randomBytes(4).toString('hex')}`;
  // The relay and the worker log in with the AMQP URL's user (guest when it names none, as amqplib does).
  const amqpUser = decodeURIComponent(new URL(urls[0]!).username) || 'guest';
  const vhostPath = `/vhosts/${encodeURIComponent(name)}`;
  await call(management, 'PUT', vhostPath, {
    description: `prisma-rabbitmq-outbox test harness, created ${new Date().toISOString()} by pid ${process.pid}; deleted by its stop()`,
  });
  undeleted.add(name);
  const remove = async () => {
    await call(management, 'DELETE', vhostPath);
    undeleted.delete(name);
  };
  try {
    await call(management, 'PUT', `/permissions/${encodeURIComponent(name)}/${encodeURIComponent(amqpUser)}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
  } catch (error) {
    await remove().catch(() => {});
    throw error;
  }
  await sweepAbandoned(management);
  return {
    name,
    amqpUrls: urls.map((each) => {
      const url = new URL(each);
      url.pathname = `/${encodeURIComponent(name)}`;
      return url.toString();
    }),
    delete: remove,
  };
}
