// One reconciler run at a time across replicas: a transaction-scoped advisory lock,
// held by a transaction that stays open for the run (its connection does nothing
// else) while the run's statements commit on other connections as they go. The
// lock is as alive as its session: a heartbeat proves it, and the session is
// told to end itself when idle too long, so an owner that died or went silent
// (half-open connection) frees the lock within `idleSessionMs`, and a next run
// then closes its run as abandoned.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { SqlStore } from '../database/sqlStore.js';
import { OutboxError } from '../errors.js';
import { sleep } from '../timing/sleep.js';
import { withTimeout } from '../timing/bounded.js';

export const RECONCILER_LOCK_NAME = 'prisma-rabbitmq-outbox.reconciler';

export interface LockTiming {
  /** How often the lock's session proves it is alive. */
  heartbeatMs: number;
  /** A heartbeat unanswered this long means the lock is lost. */
  heartbeatTimeoutMs: number;
  /** The server ends the lock's session after this long without a statement (idle_in_transaction_session_timeout). */
  idleSessionMs: number;
  /** The lock's transaction lasts this long at most (the Prisma path enforces it). */
  maxHoldMs: number;
}

export interface LockLease {
  /** Aborts when the lock is lost (its session died or went silent): the run must stop. */
  readonly lost: AbortSignal;
  /** Proves the lock is still held (its session answers); rejects, and aborts `lost`, if not. */
  verify(): Promise<void>;
  /** Ends the lock's transaction; waits for that a few seconds at most (a dead session ends by itself). */
  release(): Promise<void>;
}

/** The lease, undefined when another run holds the lock; rejects when the database cannot say. */
export function tryAcquireLock(store: SqlStore, timing: LockTiming): Promise<LockLease | undefined> {
  const lost = new AbortController();
  const releasing = new AbortController();
  let settled = false;
  let answer!: (lease: LockLease | undefined) => void;
  let refuse!: (error: unknown) => void;
  const acquired = new Promise<LockLease | undefined>((resolve, reject) => {
    answer = resolve;
    refuse = reject;
  });
  let ended: Promise<void> = Promise.resolve();
  let heartbeat: () => Promise<void> = async () => {};
  const lease: LockLease = {
    lost: lost.signal,
    verify: () => (lost.signal.aborted ? Promise.reject(lost.signal.reason) : heartbeat()),
    async release() {
      releasing.abort();
      await Promise.race([ended, sleep(Math.min(timing.heartbeatTimeoutMs, 5_000))]);
    },
  };
  const held = store.transaction(async (query) => {
    const [row] = await query<{ locked: boolean }>(sql`SELECT pg_try_advisory_xact_lock(hashtext(${RECONCILER_LOCK_NAME}::text)) AS "locked"`);
    if (!row!.locked) {
      settled = true;
      answer(undefined);
      return;
    }
    await query(sql`SELECT set_config('idle_in_transaction_session_timeout', ${String(timing.idleSessionMs)}, true) AS "set"`);
    heartbeat = async () => {
      try {
        await withTimeout(
          query(sql`SELECT 1 AS "alive"`),
          timing.heartbeatTimeoutMs,
          `the reconciler lock's session did not answer for ${timing.heartbeatTimeoutMs} ms`,
        );
      } catch (error) {
        // At once: ending the transaction may wait on the same dead connection.
        lost.abort(
          new OutboxError('OUTBOX_DATABASE_UNREACHABLE', `the reconciler lock was lost: ${error instanceof Error ? error.message : String(error)}`, {
            cause: error,
          }),
        );
        throw lost.signal.reason;
      }
    };
    settled = true;
    answer(lease);
    while (!releasing.signal.aborted && !lost.signal.aborted) {
      await sleep(timing.heartbeatMs, AbortSignal.any([releasing.signal, lost.signal]));
      if (releasing.signal.aborted || lost.signal.aborted) break;
      await heartbeat();
    }
    if (lost.signal.aborted) throw lost.signal.reason;
  }, timing.maxHoldMs);
  ended = held.then(
    () => {},
    (error: unknown) => {
      if (!settled) {
        settled = true;
        refuse(error);
      } else if (!releasing.signal.aborted) lost.abort(error);
    },
  );
  return acquired;
}
