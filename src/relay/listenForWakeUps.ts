import pg from 'pg';
import type { Logger } from '../logging/createLogger.js';
import { WAKE_UP_CHANNEL } from '../outbox/insertOutboxMessages.js';
import { sleep } from '../timing/sleep.js';

/**
 * LISTENs for the writers' commit-time NOTIFY and calls `onWakeUp`, so the relay
 * publishes at once instead of at its next poll. Polling goes on regardless, so a
 * lost listener connection only costs latency; it is re-opened after a pause.
 * Returns a function that stops listening.
 */
export function listenForWakeUps(databaseUrl: string, onWakeUp: () => void, logger: Logger, signal: AbortSignal): () => Promise<void> {
  let client: pg.Client | undefined;
  const loop = (async () => {
    while (!signal.aborted) {
      const current = new pg.Client({ connectionString: databaseUrl, application_name: 'outbox-relay-listener' });
      client = current;
      const ended = new Promise<void>((resolve) => {
        current.on('end', resolve);
        current.on('error', () => resolve());
      });
      try {
        await current.connect();
        current.on('notification', () => onWakeUp());
        await current.query(`LISTEN ${WAKE_UP_CHANNEL}`);
        await Promise.race([ended, new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))]);
      } catch {
        // Reconnected below; polling covers the gap.
      }
      await current.end().catch(() => {});
      if (!signal.aborted) {
        logger.debug('wake-up listener lost; polling until it is back');
        await sleep(1000, signal);
      }
    }
  })();
  return async () => {
    await client?.end().catch(() => {});
    await loop;
  };
}
