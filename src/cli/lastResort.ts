// The last line of defence of a long-running command (relay, worker, reconcile).
// Every broker and database failure is handled where it happens; what reaches
// here is a bug, ours or a handler's.
import type { Logger } from '../logging/createLogger.js';
import { loggableError } from '../logging/loggableError.js';

/**
 * An unhandled rejection is logged (error) and the process goes on: the promise
 * that failed had no one waiting on it, and the component's own watchdog and
 * health check cover a loop that stopped because of it. An uncaught exception
 * leaves the process in an unknown state: logged (fatal), then exit 1, the one
 * case where a supervisor must restart the process.
 */
export function installLastResortHandlers(logger: Logger, secrets: readonly (string | undefined)[]): void {
  const urls = secrets.filter((secret): secret is string => Boolean(secret));
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: loggableError(reason, urls) }, 'unhandled promise rejection (a bug: please report it); the process keeps running');
  });
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: loggableError(error, urls) }, 'uncaught exception (a bug: please report it); exiting so that a supervisor restarts the process');
    process.exit(1);
  });
}
