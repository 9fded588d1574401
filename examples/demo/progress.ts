// The live progress line, computed from the database every second.
import type pg from 'pg';
import { SIDE_EFFECTS_PER_EVENT } from '../shop/consumers.js';

export interface Progress {
  written: number;
  published: number;
  /** Side effects owed by the events written so far (a consumer per side effect). */
  owed: number;
  handled: number;
  retried: number;
  dead: number;
  /** Age of the oldest event not yet published, seconds. */
  relayLagS: number;
}

export async function readProgress(pool: pg.Pool, runStart: Date): Promise<Progress> {
  const { rows } = await pool.query<Record<keyof Progress, string>>(
    `SELECT (SELECT count(*) FROM outbox_message WHERE created_at >= $1) AS written,
            (SELECT count(*) FROM outbox_message WHERE created_at >= $1 AND status = 'published') AS published,
            (SELECT coalesce(sum(($2::jsonb ->> event_type)::int), 0) FROM outbox_message WHERE created_at >= $1) AS owed,
            count(*) FILTER (WHERE i.status = 'done') AS handled,
            coalesce(sum(i.attempts - 1) FILTER (WHERE i.attempts > 1), 0) AS retried,
            count(*) FILTER (WHERE i.status = 'dead') AS dead,
            coalesce((SELECT extract(epoch FROM now() - min(created_at)) FROM outbox_message WHERE created_at >= $1 AND status = 'pending'), 0) AS "relayLagS"
       FROM outbox_inbox i JOIN outbox_message m ON m.id = i.message_id
      WHERE m.created_at >= $1`,
    [runStart, JSON.stringify(SIDE_EFFECTS_PER_EVENT)],
  );
  const row = rows[0]!;
  return {
    written: Number(row.written),
    published: Number(row.published),
    owed: Number(row.owed),
    handled: Number(row.handled),
    retried: Number(row.retried),
    dead: Number(row.dead),
    relayLagS: Number(row.relayLagS),
  };
}

export function formatProgress(elapsedS: number, sent: number, total: number, progress: Progress): string {
  return (
    `[${elapsedS.toFixed(0).padStart(3)} s] requests ${sent}/${total}  events written ${progress.written}  published ${progress.published}` +
    `  side effects ${progress.handled}/${progress.owed}  retried ${progress.retried}  dead-lettered ${progress.dead}  relay lag ${progress.relayLagS.toFixed(1)} s`
  );
}

/** Prints a progress line every second (rewritten in place on a terminal); stop() ends it. */
export function showProgress(pool: pg.Pool, runStart: Date, line: (progress: Progress) => string) {
  const started = Date.now();
  const tty = process.stdout.isTTY;
  let last = '';
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    readProgress(pool, runStart)
      .then((progress) => {
        last = line(progress);
        // Off a terminal (CI, a log file) one line every 5 s is plenty.
        if (tty) process.stdout.write(`\r${last}\x1b[K`);
        else if (Math.round((Date.now() - started) / 1000) % 5 === 0) console.log(last);
      })
      .catch(() => {})
      .finally(() => (busy = false));
  }, 1_000);
  return {
    /** Ends the in-place line so the next output starts on its own line. */
    interrupt: (text: string) => (tty ? process.stdout.write(`\r${text}\x1b[K\n${last}`) : console.log(text)),
    stop() {
      clearInterval(timer);
      if (tty) process.stdout.write('\n');
    },
  };
}
