import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { liveConnectionConfig } from '../database/connectionSettings.js';
import type { Logger } from '../logging/createLogger.js';
import { WAKE_UP_CHANNEL } from '../outbox/insertOutboxMessages.js';
import { sleep } from '../timing/sleep.js';

/** How often the listening connection is checked: a silent one (half-open) would just stop hearing NOTIFYs. */
const PING_INTERVAL_MS = 30_000;
/** How long a probe NOTIFY may take to come back before the listener is judged deaf. */
const PROBE_TIMEOUT_MS = 5_000;
/** A deaf listener is tried again after this: a pooler's config may be fixed without restarting the relay. */
const RECHECK_DEAF_AFTER_MS = 5 * 60_000;
const PROBE_PREFIX = 'probe:';

/**
 * - `checking`: connecting, or the probe is on its way;
 * - `listening`: a probe sent the writers' way came back, NOTIFYs wake the relay;
 * - `deaf`: the probe never came back (a pooler in transaction mode, or a database URL
 *   that is not the writers' database): the relay polls only.
 */
export type WakeUpState = 'checking' | 'listening' | 'deaf';

export interface WakeUpListenerOptions {
  databaseUrl: string;
  onWakeUp: () => void;
  /** Sends `pg_notify(channel, payload)` the way writers do (the relay's own store). */
  sendProbe: (channel: string, payload: string) => Promise<unknown>;
  logger: Logger;
  signal: AbortSignal;
  pollIntervalMs: number;
  probeTimeoutMs?: number;
  recheckDeafAfterMs?: number;
}

export interface WakeUpListener {
  state(): WakeUpState;
  stop(): Promise<void>;
}

/**
 * LISTENs for the writers' commit-time NOTIFY and calls `onWakeUp`, so the relay
 * publishes at once instead of at its next poll. Polling goes on regardless, so a
 * lost listener connection only costs latency; it is re-opened after a pause, and
 * a ping every 30 s (with a reply timeout) finds one that went silent.
 *
 * A LISTEN can also succeed and still hear nothing: through a pooler in transaction
 * mode (PgBouncer's default for apps) the LISTEN lands on a server connection that is
 * handed to other clients right after. So each new listening connection first sends
 * itself a probe NOTIFY along the writers' path; if it does not come back, the relay
 * warns once and polls only, trying again every few minutes.
 */
export function listenForWakeUps(options: WakeUpListenerOptions): WakeUpListener {
  const { databaseUrl, onWakeUp, sendProbe, logger, signal } = options;
  const probeTimeoutMs = options.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
  const recheckDeafAfterMs = options.recheckDeafAfterMs ?? RECHECK_DEAF_AFTER_MS;
  let state: WakeUpState = 'checking';
  let warnedDeaf = false;
  let client: pg.Client | undefined;
  const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));

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
        const probe = `${PROBE_PREFIX}${randomUUID()}`;
        let probeCameBack: () => void = () => {};
        const cameBack = new Promise<boolean>((resolve) => (probeCameBack = () => resolve(true)));
        current.on('notification', (message) => {
          if (message.payload === probe) probeCameBack();
          else if (!message.payload?.startsWith(PROBE_PREFIX)) onWakeUp();
        });
        await current.connect();
        await current.query(`LISTEN ${WAKE_UP_CHANNEL}`);
        state = 'checking';
        await sendProbe(WAKE_UP_CHANNEL, probe);
        const heard = await Promise.race([cameBack, sleep(probeTimeoutMs, signal).then(() => false), ended.then(() => undefined)]);
        if (heard) {
          state = 'listening';
          if (warnedDeaf) logger.info('NOTIFY reaches the relay again: it wakes up on commits');
          warnedDeaf = false;
          logger.debug('wake-up listener checked: a probe NOTIFY came back');
          // A commit between LISTEN and now may have been heard only as the probe's wake-up.
          onWakeUp();
          await Promise.race([ended, aborted]);
        } else if (heard === false && !signal.aborted) {
          state = 'deaf';
          if (!warnedDeaf) {
            logger.warn(
              { probeTimeoutMs, pollIntervalMs: options.pollIntervalMs },
              'NOTIFY does not reach the relay: a probe it sent the writers’ way never came back to its LISTEN connection ' +
                '(a connection pooler in transaction mode, e.g. PgBouncer, drops LISTEN; or databaseUrl is not the writers’ database). ' +
                'The relay polls instead (latency up to pollIntervalMs); point databaseUrl at PostgreSQL directly, or at a session-mode pool',
            );
          }
          warnedDeaf = true;
        }
      } catch {
        // Reconnected below; polling covers the gap.
      }
      clearInterval(ping);
      await endClient(current);
      if (signal.aborted) break;
      if (state === 'deaf') {
        await sleep(recheckDeafAfterMs, signal);
      } else {
        state = 'checking';
        logger.debug('wake-up listener lost; polling until it is back');
        await sleep(1000, signal);
      }
    }
  })();
  return {
    state: () => state,
    async stop() {
      if (client) await endClient(client);
      await loop;
    },
  };
}

/** Ends a client, destroying its socket if the server's goodbye does not come (a dead connection never sends it). */
async function endClient(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.end().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))]);
  clearTimeout(timer);
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}
