// "Back off on failure, log once per outage": what every retrying loop does (the
// relay's publish loop, the worker's start, the broker connection), in one place.
// One warn line when an outage starts, one info line when it ends, nothing for the
// failures between; each failure says how long to wait before the next try.
import type { Logger } from '../logging/createLogger.js';
import { backoffDelay } from '../timing/backoffDelay.js';

export interface OutageOptions {
  logger: Logger;
  errorFor(error: unknown): Error;
  /** The warn line when the first failure starts an outage. */
  startMessage: string;
  /** The info line when a success ends one (none: the caller says it in its own words). */
  endMessage?: string;
  /** Backoff between tries: the first wait and the cap, doubling with jitter. */
  backoff: { initialMs: number; maxMs: number };
}

export interface Outage {
  /** A failure: logged if it starts an outage. Returns the wait before the next try, in ms. */
  failed(error: unknown, context?: Record<string, unknown>): number;
  /** A success: logged (with the failures and how long it lasted) if it ends an outage. */
  succeeded(context?: Record<string, unknown>): void;
  /** An outage the caller noticed and logged itself (a connection lost): the failures that follow add no line. */
  began(): void;
  /** Failures since the last success. */
  readonly failures: number;
}

export function createOutage(options: OutageOptions): Outage {
  let failures = 0;
  let since: number | undefined;
  return {
    failed(error, context = {}) {
      failures += 1;
      if (since === undefined) {
        since = Date.now();
        options.logger.warn({ ...context, err: options.errorFor(error) }, options.startMessage);
      }
      return backoffDelay(failures, options.backoff);
    },
    succeeded(context = {}) {
      if (since !== undefined && options.endMessage) options.logger.info({ ...context, failures, outageMs: Date.now() - since }, options.endMessage);
      failures = 0;
      since = undefined;
    },
    began() {
      since ??= Date.now();
    },
    get failures() {
      return failures;
    },
  };
}
