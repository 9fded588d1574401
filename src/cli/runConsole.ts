// `outbox console --config … [--port 8080] [--host 127.0.0.1]`: the operators' page and
// JSON API (src/console), until SIGTERM or SIGINT.
import { parseArgs } from 'node:util';
import { consumedQueues } from '../broker/consumerTopology.js';
import { resolveManagementEndpoint } from '../broker/resolveManagementEndpoint.js';
import { resolveConsumer } from '../catalog/defineConsumer.js';
import { typesMatching } from '../catalog/topicPattern.js';
import { loadConfig, requireConfigFile } from '../config/loadConfig.js';
import { startConsole } from '../console/consoleServer.js';
import { createLogger } from '../logging/createLogger.js';
import { flag, readFlags } from './commandFlags.js';
import { installLastResortHandlers } from './lastResort.js';
import { readAmqpUrl } from './readAmqpUrl.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { untilSignalled } from './untilSignalled.js';

export const CONSOLE_USAGE = `  console   The operators' page and JSON API: relay and consumers live, a message's journey,
            dead letters (replay, purge), reconciler runs, retry-failed, the audit log.
            --config <path>      default ./outbox.config.{ts,mts,js,mjs,cjs} (its consumers)
            --port <n>           default 8080        --host <address>   default 127.0.0.1
            (DATABASE_URL, AMQP_URL; off loopback OUTBOX_CONSOLE_TOKEN is required: a bearer
            token, or the password of basic auth)`;

export async function runConsole(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' } },
    strict: true,
  });
  const { port } = readFlags(values, { port: flag.port() });
  const config = await loadConfig(await requireConfigFile(values.config));
  const catalogTypes = [...new Set(config.events.map((event) => event.type))];
  const consumers = config.consumers.map(resolveConsumer).map((consumer) => ({
    name: consumer.name,
    eventTypes: typesMatching(consumer.events, catalogTypes),
    queues: consumedQueues(consumer),
    ordered: consumer.ordered,
  }));
  const databaseUrl = readDatabaseUrl();
  const amqpUrl = readAmqpUrl();
  const logger = createLogger();
  installLastResortHandlers(logger, [databaseUrl, ...amqpUrl.split(',')]);
  const token = process.env.OUTBOX_CONSOLE_TOKEN?.trim() || undefined;
  const server = await startConsole({
    databaseUrl,
    amqpUrl,
    brokerEndpoints: resolveManagementEndpoint(process.env),
    consumers,
    host: values.host,
    port,
    ...(token ? { token } : {}),
    logger,
  });
  logger.info({ url: server.url, port: server.port, consumers: consumers.length, auth: token ? 'token' : 'none (loopback)' }, 'outbox console listening');
  await untilSignalled(logger, () => server.close());
}
