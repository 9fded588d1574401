// What the worker knows about its own liveness, kept up to date in memory by its
// loops (GET /health does no I/O): whether the broker connection is up, whether the
// database answered the last deliveries, and deliveries stuck past their deadline.
import { createReachability, healthReport, type HealthCheck, type HealthReport } from '../health/healthReport.js';

interface StuckDelivery {
  consumer: string;
  messageId: string | undefined;
  since: number;
}

/** A passing check says what the worker is doing rather than when the broker last "answered". */
const withDetail = (check: HealthCheck, detail: string): HealthCheck => (check.ok ? { ok: true, detail } : check);

export function createWorkerHealth(toleranceMs: number) {
  const database = createReachability(toleranceMs);
  const brokerReachability = createReachability(toleranceMs);
  let consuming = false;
  const stuck = new Set<StuckDelivery>();
  return {
    /** Fed by the deliveries: a transaction that got an answer, or one the database failed. */
    database,
    /** Fed by the consume loop: consuming, or the connection lost. */
    broker: {
      succeeded(): void {
        consuming = true;
        brokerReachability.succeeded();
      },
      failed(error: unknown): void {
        consuming = false;
        brokerReachability.failed(error);
      },
    },
    /**
     * A delivery handed back at its deadline whose work still runs (a query that may
     * never be answered holds its database connection). Call the returned function
     * when that work settles.
     */
    stuck(consumer: string, messageId: string | undefined): () => void {
      const entry: StuckDelivery = { consumer, messageId, since: Date.now() };
      stuck.add(entry);
      return () => void stuck.delete(entry);
    },
    report(running: boolean): HealthReport {
      const now = Date.now();
      const [oldest] = stuck;
      return healthReport('worker', {
        running: running ? { ok: true } : { ok: false, detail: 'not started, or stopped' },
        broker: withDetail(brokerReachability.check(now), consuming ? 'consuming' : 'reconnecting'),
        database: database.check(now),
        deliveries:
          oldest === undefined
            ? { ok: true }
            : {
                ok: false,
                detail: `${stuck.size} delivery(ies) stuck past the deadline, still holding a database connection; the oldest (${oldest.consumer}, message ${oldest.messageId}) for ${Math.round((now - oldest.since) / 1000)} s`,
              },
      });
    },
  };
}

export type WorkerHealth = ReturnType<typeof createWorkerHealth>;
