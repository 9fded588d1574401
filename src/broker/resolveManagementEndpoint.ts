// Where `outbox status` finds the RabbitMQ management API: beside the first node
// of AMQP_URL (same host, same user), unless RABBITMQ_MANAGEMENT_URL says
// otherwise. The vhost is always AMQP_URL's: it is where the relay and workers live.
import { OutboxError } from '../errors.js';
import { parseAmqpUrls } from './amqpUrls.js';

export interface ManagementEndpoint {
  /** The API's base without credentials: http://host:15672, or the override's origin and path prefix. */
  baseUrl: string;
  username: string;
  password: string;
  /** Where the address came from. */
  source: 'AMQP_URL' | 'RABBITMQ_MANAGEMENT_URL';
  /** Where the credentials came from ("default": neither URL names a user, so RabbitMQ's guest/guest, as amqplib does). */
  credentialsFrom: 'AMQP_URL' | 'RABBITMQ_MANAGEMENT_URL' | 'default';
}

export interface BrokerEndpoints {
  /** AMQP_URL's nodes, in order; undefined when AMQP_URL is not set. */
  amqpUrls: string[] | undefined;
  /** AMQP_URL's vhost, "/" when its path names none. */
  vhost: string;
  /** Undefined when neither AMQP_URL nor RABBITMQ_MANAGEMENT_URL is set. */
  management: ManagementEndpoint | undefined;
}

/** Percent-decoding that never throws: a stray "%" stays as written. */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A URL's credentials; undefined when it names neither user nor password (amqplib then logs in as guest/guest). */
function credentialsOf(url: URL): { username: string; password: string } | undefined {
  if (url.username === '' && url.password === '') return undefined;
  return { username: decode(url.username), password: decode(url.password) };
}

/** The vhost an AMQP URL opens, as amqplib reads it: its path without the leading "/", or "/" when empty. */
export function vhostOf(amqpUrl: string): string {
  return decode(new URL(amqpUrl).pathname.slice(1)) || '/';
}

/**
 * Derived: amqp://user:pass@host:5672/vhost → http://host:15672 with user/pass;
 * amqps:// → https://host:15671 (the plugin's TLS port). Override: the URL as
 * given (its path is a prefix, e.g. behind a proxy), its own credentials if it
 * carries any, else AMQP_URL's.
 */
export function resolveManagementEndpoint(env: NodeJS.ProcessEnv = process.env): BrokerEndpoints {
  const amqpUrls = env.AMQP_URL ? parseAmqpUrls(env.AMQP_URL) : undefined;
  const first = amqpUrls ? new URL(amqpUrls[0]!) : undefined;
  const vhost = amqpUrls ? vhostOf(amqpUrls[0]!) : '/';
  const amqpCredentials = first ? credentialsOf(first) : undefined;

  const override = env.RABBITMQ_MANAGEMENT_URL?.trim();
  if (override) {
    let url: URL;
    try {
      url = new URL(override);
    } catch {
      throw new OutboxError('OUTBOX_INVALID_CONFIG', 'RABBITMQ_MANAGEMENT_URL is not a valid URL (e.g. http://rabbitmq:15672)');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new OutboxError('OUTBOX_INVALID_CONFIG', `RABBITMQ_MANAGEMENT_URL must start with http:// or https://, not ${url.protocol}//`);
    }
    const own = credentialsOf(url);
    const credentials = own ?? amqpCredentials ?? { username: 'guest', password: 'guest' };
    return {
      amqpUrls,
      vhost,
      management: {
        baseUrl: `${url.origin}${url.pathname.replace(/\/+$/, '')}`,
        ...credentials,
        source: 'RABBITMQ_MANAGEMENT_URL',
        credentialsFrom: own ? 'RABBITMQ_MANAGEMENT_URL' : amqpCredentials ? 'AMQP_URL' : 'default',
      },
    };
  }
  if (!first) return { amqpUrls, vhost, management: undefined };
  const tls = first.protocol === 'amqps:';
  return {
    amqpUrls,
    vhost,
    management: {
      baseUrl: `${tls ? 'https' : 'http'}://${first.hostname}:${tls ? 15671 : 15672}`,
      ...(amqpCredentials ?? { username: 'guest', password: 'guest' }),
      source: 'AMQP_URL',
      credentialsFrom: amqpCredentials ? 'AMQP_URL' : 'default',
    },
  };
}
