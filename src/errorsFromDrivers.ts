// First-run failures a new user meets, from the PostgreSQL and AMQP drivers (often
// wrapped by Prisma), turned into typed errors that say what to do. Anything not
// recognised here stays an unexpected error, with its stack.
import { OutboxError } from './errors.js';
import { redactUrl } from './logging/redactUrl.js';

/**
 * The error and its causes, outermost first. Prisma wraps the driver adapter's error
 * in `meta.driverAdapterError`, whose `cause` holds the mapped PostgreSQL failure.
 */
function causeChain(error: unknown): Record<string, unknown>[] {
  const chain: Record<string, unknown>[] = [];
  let current = error;
  while (current !== null && typeof current === 'object' && chain.length < 8) {
    const link = current as Record<string, unknown> & { cause?: unknown; meta?: { driverAdapterError?: unknown } };
    chain.push(link);
    current = link.cause ?? link.meta?.driverAdapterError;
  }
  return chain;
}

const text = (value: unknown) => (typeof value === 'string' ? value : '');
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);

/** Where it tried to connect, without the password. */
function describeTarget(url: string | undefined): string {
  if (!url) return '';
  return ` (${url
    .split(',')
    .map((each) => redactUrl(each.trim()))
    .join(', ')})`;
}

/** A typed OutboxError for a recognised PostgreSQL first-run failure, else undefined. */
export function databaseError(error: unknown, databaseUrl?: string): OutboxError | undefined {
  const at = describeTarget(databaseUrl);
  for (const link of causeChain(error)) {
    const code = text(link.code) || text(link.originalCode);
    const kind = text(link.kind);
    const message = text(link.originalMessage) || text(link.message);
    if (code === '3D000' || code === 'P1003' || kind === 'DatabaseDoesNotExist') {
      return new OutboxError(
        'OUTBOX_DATABASE_NOT_FOUND',
        `the database does not exist${at}: ${message || 'database not found'}. Check the database name in DATABASE_URL; if it is the right one, \`npx outbox migrate\` creates it and its tables`,
        { cause: error },
      );
    }
    if (code === '28P01' || code === '28000' || code === 'P1000' || kind === 'AuthenticationFailed' || kind === 'DatabaseAccessDenied') {
      return new OutboxError(
        'OUTBOX_DATABASE_LOGIN_REFUSED',
        `PostgreSQL refused the login${at}: ${message || 'authentication failed'}. Check the user and password in DATABASE_URL`,
        { cause: error },
      );
    }
    if (code === '42P01' || code === 'P2021' || kind === 'TableDoesNotExist') {
      if (/outbox_/.test(message) || /outbox_/.test(text(link.table))) {
        return new OutboxError(
          'OUTBOX_TABLES_MISSING',
          `the outbox tables are missing${at}: ${message}. Run \`npx outbox init\`, then \`npx outbox migrate\` (or \`npx prisma migrate deploy\`)`,
          { cause: error },
        );
      }
    }
    if (UNREACHABLE.has(code) || code === 'P1001' || kind === 'DatabaseNotReachable') {
      return new OutboxError(
        'OUTBOX_DATABASE_UNREACHABLE',
        `cannot reach PostgreSQL${at}: ${message || code || kind}. Is it running, and are the host and port in DATABASE_URL right?`,
        { cause: error },
      );
    }
  }
  return undefined;
}

/** A typed OutboxError for a recognised AMQP connection failure, else undefined. */
export function brokerError(error: unknown, amqpUrl?: string): OutboxError | undefined {
  const at = describeTarget(amqpUrl);
  for (const link of causeChain(error)) {
    const code = text(link.code);
    const message = text(link.message);
    if (/ACCESS[-_]REFUSED/.test(message) && /Login was refused|Handshake terminated/.test(message)) {
      return new OutboxError('OUTBOX_BROKER_LOGIN_REFUSED', `RabbitMQ refused the login${at}. Check the user and password in AMQP_URL`, { cause: error });
    }
    // amqplib's wording when the broker closes the connection at open: the vhost is missing or not permitted.
    if (/Expected ConnectionOpenOk; got <ConnectionClose/.test(message) || /NOT_ALLOWED|vhost .* not found|access to vhost/i.test(message)) {
      return new OutboxError(
        'OUTBOX_BROKER_ACCESS_REFUSED',
        `RabbitMQ refused to open the virtual host${at}: it does not exist, or this user has no permissions on it (rabbitmqctl add_vhost / set_permissions)`,
        { cause: error },
      );
    }
    if (/PRECONDITION_FAILED - inequivalent arg/.test(message)) {
      const reason = /PRECONDITION_FAILED - [^"]*/.exec(message)![0];
      return new OutboxError(
        'OUTBOX_TOPOLOGY_CONFLICT',
        `${reason}: the queue or exchange exists with other settings than the config declares (e.g. classic instead of quorum); delete or rename it first`,
        { cause: error },
      );
    }
    if (/unknown exchange type 'x-consistent-hash'/.test(message)) {
      return new OutboxError(
        'OUTBOX_BROKER_PLUGIN_MISSING',
        `RabbitMQ${at} has no consistent-hash exchange, which ordered consumers route by: enable the plugin that ships with it, \`rabbitmq-plugins enable rabbitmq_consistent_hash_exchange\` (on every node)`,
        { cause: error },
      );
    }
    if (UNREACHABLE.has(code)) {
      return new OutboxError(
        'OUTBOX_BROKER_UNREACHABLE',
        `cannot reach RabbitMQ${at}: ${message || code}. Is it running, and are the host and port in AMQP_URL right?`,
        { cause: error },
      );
    }
  }
  return undefined;
}

function portsOf(urls: string | undefined, defaultPort: number): Set<number> {
  const ports = new Set<number>();
  for (const each of (urls ?? '').split(',')) {
    try {
      const url = new URL(each.trim());
      ports.add(url.port ? Number(url.port) : defaultPort);
    } catch {
      // not a URL: nothing to match
    }
  }
  return ports;
}

/**
 * Any failure a command ends with, typed when recognised. A refused TCP connection is
 * attributed by its port: PostgreSQL's or RabbitMQ's as the URLs name them.
 */
export function typedFailure(error: unknown, urls: { databaseUrl?: string | undefined; amqpUrl?: string | undefined }): OutboxError | undefined {
  const port = causeChain(error)
    .map((link) => link.port)
    .find((value) => typeof value === 'number');
  const isBrokerPort = port !== undefined && portsOf(urls.amqpUrl, 5672).has(port) && !portsOf(urls.databaseUrl, 5432).has(port);
  if (isBrokerPort) return brokerError(error, urls.amqpUrl);
  return brokerLoginOrVhost(error, urls.amqpUrl) ?? databaseError(error, urls.databaseUrl) ?? brokerError(error, urls.amqpUrl);
}

function brokerLoginOrVhost(error: unknown, amqpUrl: string | undefined): OutboxError | undefined {
  const typed = brokerError(error, amqpUrl);
  return typed && typed.code !== 'OUTBOX_BROKER_UNREACHABLE' ? typed : undefined;
}
