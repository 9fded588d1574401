// What the relay knows about its own liveness: when its loops last got anywhere,
// whether the database answered its last batch, whether the broker connection is
// up. Read by GET /health; the deadline also drives the watchdog in createRelay.
import type { BrokerConnection } from '../broker/brokerConnection.js';
import { createReachability, healthReport, type HealthCheck, type HealthReport } from '../health/healthReport.js';
import type { WakeUpState } from './listenForWakeUps.js';

/**
 * An outage shorter than this (a restart, a failover) does not make the relay
 * unhealthy; one longer than the stuck deadline always does.
 */
const OUTAGE_TOLERANCE_MS = 30_000;

export function createRelayLiveness(stuckAfterMs: number) {
  const toleranceMs = Math.min(OUTAGE_TOLERANCE_MS, stuckAfterMs);
  const database = createReachability(toleranceMs);
  let lastProgressAt = Date.now();
  return {
    database,
    /** A loop finished an iteration: a batch, an idle wait, or a failure it backed off from. */
    progressed(): void {
      lastProgressAt = Date.now();
    },
    health(running: boolean, broker: BrokerConnection | undefined, wakeUps?: WakeUpState): HealthReport {
      const now = Date.now();
      const sinceProgress = now - lastProgressAt;
      const brokerDownFor = broker?.unavailableSince === undefined ? 0 : now - broker.unavailableSince;
      return healthReport('relay', {
        running: running ? { ok: true } : { ok: false, detail: 'not started, or stopped' },
        loop:
          sinceProgress < stuckAfterMs
            ? { ok: true, detail: `last iteration ${Math.round(sinceProgress / 100) / 10} s ago` }
            : { ok: false, detail: `no batch finished for ${Math.round(sinceProgress / 1000)} s (stuck after ${stuckAfterMs} ms)` },
        database: database.check(now),
        broker:
          brokerDownFor < toleranceMs
            ? { ok: true, ...(broker ? { detail: broker.state } : {}) }
            : { ok: false, detail: `no broker connection for ${Math.round(brokerDownFor / 1000)} s` },
        ...(wakeUps ? { wakeUps: wakeUpCheck(wakeUps) } : {}),
      });
    },
  };
}

/** Polling still publishes everything, only later: a deaf listener is said, not unhealthy. */
function wakeUpCheck(state: WakeUpState): HealthCheck {
  if (state === 'listening') return { ok: true, detail: 'listening: NOTIFY wakes the relay' };
  if (state === 'deaf') return { ok: true, detail: 'polling only: NOTIFY does not reach the listener (a pooler in transaction mode?)' };
  return { ok: true, detail: 'checking that NOTIFY reaches the listener' };
}

export const STUCK = Symbol('stuck');

/** `work`'s value, or STUCK if it has not settled within `ms` (it goes on; its later failure is swallowed). */
export async function unlessStuck<T>(work: Promise<T>, ms: number): Promise<T | typeof STUCK> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof STUCK>((resolve) => {
    timer = setTimeout(() => resolve(STUCK), ms);
  });
  try {
    const outcome = await Promise.race([work, deadline]);
    if (outcome === STUCK) work.catch(() => {});
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}
export type RelayLiveness = ReturnType<typeof createRelayLiveness>;
