import pg from 'pg';
import { liveConnectionConfig } from '../database/connectionSettings.js';
import type { Logger } from '../logging/createLogger.js';
import { WAKE_UP_CHANNEL } from '../outbox/insertOutboxMessages.js';
import { sleep } from '../timing/sleep.js';

/** How often the listening connection is checked: a silent one (half-open) would just stop hearing NOTIFYs. */
const PING_INTERVAL_MS = 30_000;

/**
 * LISTENs for the writers' commit-time NOTIFY and calls `onWakeUp`, so the relay
 * publishes at once instead of at its next poll. Polling goes on regardless, so a
 * lost listener connection only costs latency; it is re-opened after a pause, and
 * a ping every 30 s (with a reply timeout) finds one that went silent.
 * Returns a function that stops listening.
 */
export function listenForWakeUps(databaseUrl: string, onWakeUp: () => void, logger: Logger, signal: AbortSignal): () => Promise<void> {
  let client: pg.Client | undefined;
  const loop = (async () => {
    while (!signal.aborted) {
      const current = new pg.Client(liveConnectionConfig(databaseUrl, 'outbox-relay-listener', { queryTimeoutMs: 5_000 }));
      client = current;
      let ping: NodeJS.Timeout | undefined;
      const ended = new Promise<void>((resolve) => {
        current.on('end', resolve);
        current.on('error', () => resolve());
        ping = setInterval(() => void current.query('SELECT 1').catch(() => resolve()), PING_INTERVAL_MS);
      });
      try {
        await current.connect();
        current.on('notification', () => onWakeUp());
        await current.query(`LISTEN ${WAKE_UP_CHANNEL}`);
        await Promise.race([ended, new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))]);
      } catch {
        // Reconnected below; polling covers the gap.
      }
      clearInterval(ping);
      await endClient(current);
      if (!signal.aborted) {
        logger.debug('wake-up listener lost; polling until it is back');
        await sleep(1000, signal);
      }
    }
  })();
  return async () => {
    if (client) await endClient(client);
    await loop;
  };
}

/** Ends a client, destroying its socket if the server's goodbye does not come (a dead connection never sends it). */
async function endClient(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))]);
  clearTimeout(timer);
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
