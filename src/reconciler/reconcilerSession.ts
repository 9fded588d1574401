// What a reconciler runs on: two pools (short statements, long scans) and its
// broker connection, opened by the first run or start() and closed by stop(), which
// first aborts the runs in flight and waits for them.
import type { ResolvedConsumer } from '../catalog/defineConsumer.js';
import type { WorkerTopology } from '../broker/consumerTopology.js';
import { createPgSqlStore, createPrismaSqlStore, type PrismaRootClient, type SqlStore } from '../database/sqlStore.js';
import type { Logger } from '../logging/createLogger.js';
import { parseAmqpUrls } from '../broker/amqpUrls.js';
import { createReconcilerBroker, type ReconcilerBroker } from './reconcilerBroker.js';

/** The scans after a watermark may be long (a consumer's first run walks the table). */
const SCAN_TIMEOUT_MS = 5 * 60_000;

export interface ReconcilerSession<Run> {
  /** Short statements: lock, progress, records. */
  store: SqlStore;
  /** The scans after the watermarks. */
  scanStore: SqlStore;
  broker: ReconcilerBroker;
  /** Aborted by close(): the runs in flight stop. */
  stopping: AbortController;
  /** Runs in flight, which close() waits for before it closes what they use. */
  runs: Set<Promise<Run>>;
  close(): Promise<void>;
}

export function openReconcilerSession<Run>(
  database: { databaseUrl?: string | undefined; prisma?: PrismaRootClient | undefined; amqpUrl: string | string[] },
  options: { logger: Logger; consumers: readonly ResolvedConsumer[]; topology: WorkerTopology; brokerWaitMs: number },
): ReconcilerSession<Run> {
  // Short statements and long scans on separate pools: a silent connection fails a
  // short statement in seconds, whatever a scan may need.
  const store = database.prisma
    ? createPrismaSqlStore(database.prisma)
    : createPgSqlStore(database.databaseUrl!, { maxConnections: 6, applicationName: 'outbox-reconciler' });
  const scanStore = database.prisma
    ? store
    : createPgSqlStore(database.databaseUrl!, { maxConnections: 2, applicationName: 'outbox-reconciler', queryTimeoutMs: SCAN_TIMEOUT_MS });
  const broker = createReconcilerBroker({
    urls: parseAmqpUrls(database.amqpUrl),
    logger: options.logger,
    consumers: options.consumers,
    topology: options.topology,
    waitMs: options.brokerWaitMs,
  });
  const session: ReconcilerSession<Run> = {
    store,
    scanStore,
    broker,
    stopping: new AbortController(),
    runs: new Set(),
    async close() {
      session.stopping.abort(new Error('the reconciler is stopping'));
      await Promise.allSettled(session.runs);
      await broker.close();
      await store.close();
      if (scanStore !== store) await scanStore.close();
    },
  };
  return session;
}
