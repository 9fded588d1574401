// `outbox status [--config outbox.config.ts] [--json]`: exit 0 with no alerts,
// 3 with alerts (cron jobs and health checks can rely on it), 1 on an error, 2 on
// bad usage. The report goes to stdout (JSON with --json, nothing else there).
import { consumedQueues } from '../broker/consumerTopology.js';
import { parseArgs } from 'node:util';
import { readBrokerStatus } from '../broker/readBrokerStatus.js';
import { resolveManagementEndpoint } from '../broker/resolveManagementEndpoint.js';
import { findConfigFile, loadConfig } from '../config/loadConfig.js';
import { resolveConsumer } from '../catalog/defineConsumer.js';
import { typesMatching } from '../catalog/topicPattern.js';
import { createPgSqlStore, prismaQueryRows, type QueryRows, type SqlStore } from '../database/sqlStore.js';
import { readStatus, type StatusOptions } from '../operations/readStatus.js';
import { flag, readFlags } from './commandFlags.js';
import { formatStatus } from './formatStatus.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { DEFAULT_GRACE_MS } from '../defaults.js';

/** The exit code of a report with alerts. */
export const STATUS_ALERTS_EXIT_CODE = 3;

export const STATUS_USAGE = `  status    Relay lag, failed rows, per consumer what is not done, queue and DLQ depths,
            unroutable events, the last reconciler run. Exit 0: no alerts; 3: alerts; 1: error.
            --config <path>      default ./outbox.config.{ts,mts,js,mjs,cjs}; without one, the
                                 consumers registered in the database (DATABASE_URL), owed counts unknown
            --json               the whole report as JSON on stdout
            --grace <d>          default 15m (the reconciler's): younger owed messages are in flight
            --unroutable <queue> default outbox.unroutable
            (management API: RABBITMQ_MANAGEMENT_URL, else AMQP_URL's host on port 15672 (15671 for
            amqps), credentials from AMQP_URL when the override names none; vhost from AMQP_URL)`;

export async function runStatus(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      grace: { type: 'string' },
      unroutable: { type: 'string' },
    },
    strict: true,
  });
  const { grace: graceMs } = readFlags(values, { grace: flag.duration().default(DEFAULT_GRACE_MS) });

  // The broker is asked first, while the config loads and the database answers.
  const broker = readBrokerStatus(resolveManagementEndpoint(process.env), { ...(values.unroutable ? { unroutableQueue: values.unroutable } : {}) });

  const configFile = await findConfigFile(values.config);
  let store: SqlStore | undefined;
  let query: QueryRows;
  let consumers: StatusOptions['consumers'];
  if (configFile) {
    const config = await loadConfig(configFile);
    const catalogTypes = [...new Set(config.events.map((event) => event.type))];
    consumers = config.consumers
      .map(resolveConsumer)
      .map((consumer) => ({ name: consumer.name, eventTypes: typesMatching(consumer.events, catalogTypes), queues: consumedQueues(consumer) }));
    // Read-only queries: through DATABASE_URL when it is set (a pg connection answers in
    // milliseconds; a Prisma client starts its query compiler first), else the config's client.
    if (process.env.DATABASE_URL) {
      store = createPgSqlStore(readDatabaseUrl(), { maxConnections: 4, applicationName: 'outbox-status' });
      query = store.query;
    } else {
      query = prismaQueryRows(await config.prismaClient());
    }
  } else {
    store = createPgSqlStore(readDatabaseUrl(), { maxConnections: 4, applicationName: 'outbox-status' });
    query = store.query;
  }
  try {
    const status = await readStatus(query, { consumers, broker, graceMs });
    process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    return status.alerts.length === 0 ? 0 : STATUS_ALERTS_EXIT_CODE;
  } finally {
    await store?.close();
  }
}
