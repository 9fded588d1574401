// The broker half of `outbox status`: the AMQP connection and the management API
// are asked together, and their answers judged together. Queue depths are given
// only when the management API is proven to belong to the broker AMQP_URL reaches
// (same cluster name and version) and the vhost exists there: a number read from
// another broker would be a false one.
import { readAmqpIdentity, type AmqpIdentity } from './readAmqpIdentity.js';
import { readManagementApi } from './readManagementApi.js';
import type { BrokerEndpoints, ManagementEndpoint } from './resolveManagementEndpoint.js';
import { DEFAULT_UNROUTABLE_EXCHANGE } from '../defaults.js';

export type ManagementState =
  /** This broker's API, the vhost exists: depths are given. */
  | 'ok'
  /** Neither AMQP_URL nor RABBITMQ_MANAGEMENT_URL is set. */
  | 'not-configured'
  /** Nothing answers there (connection refused, no such host, timeout): the plugin is off or the port closed. */
  | 'unreachable'
  /** HTTP 401/403: wrong password, a user without the monitoring/management tag, or without access to the vhost. */
  | 'credentials-refused'
  /** It answers for another cluster than the one AMQP_URL reaches. */
  | 'other-broker'
  /** It answers, but AMQP_URL did not connect (or its broker did not say its name): which broker it is, unknown. */
  | 'unverified'
  /** This broker's API, but AMQP_URL's vhost does not exist on it. */
  | 'vhost-missing'
  /** Anything else (an unexpected HTTP status, not a RabbitMQ API). */
  | 'error';

export interface BrokerStatus {
  /** AMQP_URL's vhost, where depths are read. */
  vhost: string;
  amqp: AmqpIdentity;
  management: {
    /** The API's address, never with credentials. */
    url: string | null;
    user: string | null;
    source: ManagementEndpoint['source'] | null;
    credentialsFrom: ManagementEndpoint['credentialsFrom'] | null;
    state: ManagementState;
    clusterName: string | null;
    node: string | null;
    version: string | null;
    /** What the state means here, and what to do about it. */
    detail: string;
  };
  /** Events no binding matched when the relay published them: kept in this queue. */
  unroutable: { queue: string; depth: number | null };
}

export interface BrokerReading {
  status: BrokerStatus;
  /** The vhost's queues → depth (null: not sampled yet); only when the management state is "ok". */
  queues: ReadonlyMap<string, number | null> | undefined;
  alerts: string[];
}

export interface BrokerStatusOptions {
  /** The relay's unroutable queue. Default "outbox.unroutable". */
  unroutableQueue?: string;
  /** For the AMQP connection and for the management API's answers. Default 3000. */
  timeoutMs?: number;
}

const hint = {
  unreachable: (detail: string) =>
    `not reachable (${detail}): the management plugin is not enabled or its port is closed: enable it on the broker ` +
    '(rabbitmq-plugins enable rabbitmq_management; it listens on 15672, 15671 with TLS) and open the port, ' +
    'or set RABBITMQ_MANAGEMENT_URL to where it listens',
  credentialsRefused: (endpoint: ManagementEndpoint, detail: string) =>
    `credentials refused (${detail}) for user "${endpoint.username}" (from ${endpoint.credentialsFrom === 'default' ? 'the default guest/guest' : endpoint.credentialsFrom}): ` +
    'a wrong password, a user without the "monitoring" or "management" tag, or one without access to the vhost; ' +
    'set RABBITMQ_MANAGEMENT_URL=http://user:password@host:15672 with such a user',
};

function judgeManagement(
  endpoints: BrokerEndpoints,
  amqp: AmqpIdentity,
  reading: Awaited<ReturnType<typeof readManagementApi>> | undefined,
): Pick<BrokerStatus['management'], 'state' | 'clusterName' | 'node' | 'version' | 'detail'> {
  const none = { clusterName: null, node: null, version: null };
  const endpoint = endpoints.management;
  if (!endpoint || !reading) return { state: 'not-configured', ...none, detail: 'set AMQP_URL (or RABBITMQ_MANAGEMENT_URL) for queue depths' };
  if (!reading.reached) {
    if (reading.failure === 'unreachable') return { state: 'unreachable', ...none, detail: hint.unreachable(reading.detail) };
    if (reading.failure === 'credentials-refused') return { state: 'credentials-refused', ...none, detail: hint.credentialsRefused(endpoint, reading.detail) };
    return { state: 'error', ...none, detail: reading.detail };
  }
  const { clusterName, node, version } = reading;
  const identity = { clusterName, node, version };
  const theirs = `cluster "${clusterName ?? '?'}", node ${node ?? '?'}, RabbitMQ ${version ?? '?'}`;
  const vhostThere = reading.vhostExists ? '' : `; vhost "${endpoints.vhost}" does not exist there`;
  if (amqp.state !== 'ok') {
    return {
      state: 'unverified',
      ...identity,
      detail: `it answers (${theirs}), but AMQP_URL did not connect (${amqp.state}), so which broker it belongs to is unknown: depths not shown${vhostThere}`,
    };
  }
  if (amqp.clusterName === null || clusterName === null) {
    return {
      state: 'unverified',
      ...identity,
      detail: `the broker did not give its cluster name (${theirs}): which broker the API belongs to is unknown, depths not shown`,
    };
  }
  if (amqp.clusterName !== clusterName || (amqp.version !== null && version !== null && amqp.version !== version)) {
    return {
      state: 'other-broker',
      ...identity,
      detail:
        `it belongs to another broker (${theirs}) than the one AMQP_URL reaches ` +
        `(cluster "${amqp.clusterName}", RabbitMQ ${amqp.version ?? '?'}): set RABBITMQ_MANAGEMENT_URL to the management API of AMQP_URL's broker; depths not shown`,
    };
  }
  if (!reading.vhostExists) {
    return {
      state: 'vhost-missing',
      ...identity,
      detail: `vhost "${endpoints.vhost}" does not exist on this broker (${theirs}): create it, or fix the path of AMQP_URL`,
    };
  }
  return { state: 'ok', ...identity, detail: `same broker as AMQP_URL (${theirs})` };
}

export async function readBrokerStatus(endpoints: BrokerEndpoints, options: BrokerStatusOptions = {}): Promise<BrokerReading> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const unroutableQueue = options.unroutableQueue ?? DEFAULT_UNROUTABLE_EXCHANGE;
  const endpoint = endpoints.management;
  const [amqp, reading] = await Promise.all([
    readAmqpIdentity(endpoints.amqpUrls, endpoints.vhost, timeoutMs),
    endpoint ? readManagementApi(endpoint, endpoints.vhost, timeoutMs) : undefined,
  ]);
  const management = judgeManagement(endpoints, amqp, reading);
  const queues = management.state === 'ok' && reading?.reached ? reading.queues : undefined;
  const status: BrokerStatus = {
    vhost: endpoints.vhost,
    amqp,
    management: {
      url: endpoint?.baseUrl ?? null,
      user: endpoint?.username ?? null,
      source: endpoint?.source ?? null,
      credentialsFrom: endpoint?.credentialsFrom ?? null,
      ...management,
    },
    unroutable: { queue: unroutableQueue, depth: queues?.get(unroutableQueue) ?? null },
  };

  const alerts: string[] = [];
  if (amqp.state === 'not-configured') alerts.push('broker: AMQP_URL is not set: the broker was not checked');
  else if (amqp.state !== 'ok') alerts.push(`broker: AMQP ${amqp.url} (vhost "${endpoints.vhost}"): ${amqp.detail}: relays and workers cannot connect either`);
  if (management.state !== 'ok' && !(management.state === 'not-configured' && amqp.state === 'not-configured')) {
    alerts.push(`broker: management API${endpoint ? ` ${endpoint.baseUrl}` : ''}: ${management.detail}`);
  }
  const unroutable = status.unroutable.depth;
  if (unroutable !== null && unroutable > 0) {
    alerts.push(
      `broker: ${unroutable} event(s) in ${unroutableQueue} matched no binding when published (no consumer queue was bound for their type): ` +
        `run \`outbox setup\` (or start every worker) so each consumer's queue is declared and bound, then check the bindings of the events exchange; ` +
        `the messages are kept in ${unroutableQueue} until you move or purge them`,
    );
  }
  return { status, queues, alerts };
}
