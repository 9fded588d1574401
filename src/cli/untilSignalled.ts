import type { Logger } from '../logging/createLogger.js';

/**
 * Resolves once SIGTERM or SIGINT arrived and `stop` finished; a second signal
 * exits at once (130) without waiting.
 */
export function untilSignalled(logger: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals > 1) {
        logger.warn({ signal }, 'second signal: exiting without waiting for the work in flight');
        process.exit(130);
      }
      logger.info({ signal }, 'stopping: finishing the work in flight');
      stop().then(resolve, reject);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
