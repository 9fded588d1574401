// One harness per database (schema) at a time. Each harness relays every pending row
// it finds, so two on one database take each other's events: one's drain would then
// wait for side effects the other's consumers did. Test files running in parallel on
// a shared test database are the usual way to get there, and a failure that depends
// on which harness claimed first would be flaky; so the second harness fails at once.
// The claim is a transaction-level advisory lock held by a transaction the harness
// keeps open until stop(): it ends with the connection, however the process ends.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { PrismaRootClient } from '../database/sqlStore.js';
import { OutboxError } from '../errors.js';

export interface DatabaseClaim {
  release(): Promise<void>;
}

/** Longer than any test run: the claim ends at release(), not at a timeout. */
const HOLD_MS = 24 * 3600 * 1000;

export async function claimDatabase(prisma: PrismaRootClient): Promise<DatabaseClaim> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let answer!: (claim: { claimed: boolean; schema: string }) => void;
  const answered = new Promise<{ claimed: boolean; schema: string }>((resolve) => (answer = resolve));

  const holding = prisma.$transaction(
    async (tx) => {
      const [row] = await tx.$queryRaw<{ claimed: boolean; schema: string }[]>(sql`
        SELECT pg_try_advisory_xact_lock(hashtext('prisma-rabbitmq-outbox test harness: ' || current_schema())) AS "claimed",
               current_schema() AS "schema"`);
      answer(row!);
      if (row!.claimed) await released;
    },
    { timeout: HOLD_MS, maxWait: 10_000 },
  );
  // A failure before the answer (no connection) is the answer; one later (the server ended the
  // session) only ends the claim early.
  const failed = holding.then(
    () => undefined,
    (error: unknown) => error,
  );
  const outcome = await Promise.race([answered, failed.then((error) => ({ error }))]);
  if ('error' in outcome) throw outcome.error;
  if (!outcome.claimed) {
    await holding.catch(() => {});
    throw new OutboxError(
      'OUTBOX_HARNESS_SETUP_FAILED',
      `another test harness is running on this database (schema ${outcome.schema}): two would take each other's events. ` +
        'Give each test file a database (or schema) of its own, or run the files that use a harness one at a time (vitest: fileParallelism: false)',
    );
  }
  return {
    async release() {
      release();
      await holding.catch(() => {});
    },
  };
}
