// A worker starting while PostgreSQL restarts, or while its broker connection is
// reset mid-declaration, waits the outage out instead of exiting; a refusal that
// will not fix itself (a missing table, a login, a topology) still fails at once.
import { brokerError } from '../errorsFromDrivers.js';
import type { Logger } from '../logging/createLogger.js';
import { createOutage } from '../lifecycle/outage.js';
import { sleep } from '../timing/sleep.js';

export interface UntilAvailableOptions {
  /** Named in the log lines: "database unavailable at start". */
  what: 'database' | 'broker';
  /** True for a failure that passes (an outage, a restart, a reset); anything else is thrown at once. */
  isTransient(error: unknown): boolean;
  logger: Logger;
  errorFor(error: unknown): Error;
  /** stop(): gives up, with the last failure. */
  signal: AbortSignal;
}

/**
 * Runs `step` until it succeeds, with capped backoff between transient failures:
 * one warn line when the first fails, one info line when it succeeds after that.
 */
export async function untilAvailable<T>(step: () => Promise<T>, options: UntilAvailableOptions): Promise<T> {
  const { what, isTransient, logger, errorFor, signal } = options;
  const outage = createOutage({
    logger,
    errorFor,
    startMessage: `${what} unavailable at start; retrying with backoff`,
    endMessage: `${what} available; starting`,
    backoff: { initialMs: 200, maxMs: 15_000 },
  });
  for (;;) {
    try {
      const result = await step();
      outage.succeeded({ attempts: outage.failures + 1 });
      return result;
    } catch (error) {
      if (signal.aborted || !isTransient(error)) throw error;
      await sleep(outage.failed(error), signal);
      if (signal.aborted) throw error;
    }
  }
}

/** AMQP reply codes of a refusal: access refused, not found, resource locked, precondition failed, not allowed, not implemented. */
const REFUSALS = new Set([403, 404, 405, 406, 530, 540]);

/**
 * A broker failure at start that passes (a connection closed or reset while the
 * topology was being declared, a node restarting): anything but the broker refusing
 * the login, the virtual host or the topology.
 */
export function isTransientBrokerFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && REFUSALS.has(code)) return false;
  const typed = brokerError(error);
  return typed === undefined || typed.code === 'OUTBOX_BROKER_UNREACHABLE';
}
