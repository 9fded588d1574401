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

async function call(endpoint: ManagementEndpoint, method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<void> {
  const authorization = `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password}`).toString('base64')}`;
  let response: Response;
  try {
    response = await fetch(`${endpoint.baseUrl}/api${path}`, {
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
  const text = await response.text().catch(() => '');
  if (response.ok || (method === 'DELETE' && response.status === 404)) return;
  const why =
    response.status === 401 || response.status === 403
      ? `user ${JSON.stringify(endpoint.username)} may not create vhosts (it needs the administrator tag, e.g. \`rabbitmqctl set_user_tags ${endpoint.username} administrator\`)`
      : `HTTP ${response.status} ${text.slice(0, 200)}`;
  throw new OutboxError('OUTBOX_HARNESS_SETUP_FAILED', `the test harness could not ${method === 'PUT' ? 'create' : 'delete'} its vhost (${path}): ${why}`);
}

export async function createPrivateVhost(amqpUrl: string): Promise<PrivateVhost> {
  const urls = parseAmqpUrls(amqpUrl);
  const { management } = resolveManagementEndpoint({ AMQP_URL: urls.join(','), RABBITMQ_MANAGEMENT_URL: process.env.RABBITMQ_MANAGEMENT_URL });
  if (!management) throw new OutboxError('OUTBOX_HARNESS_SETUP_FAILED', `no management API for ${redactUrl(urls[0]!)}`);
  const name = `outbox-harness-${randomBytes(4).toString('hex')}`;
  // The relay and the worker log in with the AMQP URL's user (guest when it names none, as amqplib does).
  const amqpUser = decodeURIComponent(new URL(urls[0]!).username) || 'guest';
  const vhostPath = `/vhosts/${encodeURIComponent(name)}`;
  await call(management, 'PUT', vhostPath, { description: 'prisma-rabbitmq-outbox test harness (deleted by its stop())' });
  try {
    await call(management, 'PUT', `/permissions/${encodeURIComponent(name)}/${encodeURIComponent(amqpUser)}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
  } catch (error) {
    await call(management, 'DELETE', vhostPath).catch(() => {});
    throw error;
  }
  return {
    name,
    amqpUrls: urls.map((each) => {
      const url = new URL(each);
      url.pathname = `/${encodeURIComponent(name)}`;
      return url.toString();
    }),
    delete: () => call(management, 'DELETE', vhostPath),
  };
}
