import type { RawSqlClient } from '../database/sqlStore.js';
import { OutboxError } from '../errors.js';

export type { RawSqlClient };

/**
 * The client of an interactive transaction: `prisma.$transaction(async (tx) => ...)`.
 * Prisma removes $connect / $disconnect from transaction clients, which is also how
 * the root client is refused at compile time here.
 */
export type TransactionClient = RawSqlClient & { $connect?: never; $disconnect?: never };

/** The parameter type a root client meets: the compiler's error then quotes what to do. */
export type RootClientRefused = 'pass the transaction client (`tx`) of prisma.$transaction(async (tx) => ...), not the root PrismaClient';

/**
 * A client parameter that takes only transaction clients: `C` itself for a
 * transaction client, `RootClientRefused` for a root client (it still has
 * $connect / $disconnect), so that passing `prisma` reads "not assignable to
 * parameter of type 'pass the transaction client (`tx`) ...'". `C` is inferred
 * from the false branch.
 */
export type TransactionClientArgument<C> = C extends { $connect: unknown } | { $disconnect: unknown } ? RootClientRefused : C;

export function assertTransactionClient(client: unknown): asserts client is TransactionClient {
  const candidate = client as Partial<Record<'$executeRaw' | '$connect', unknown>> | null | undefined;
  if (typeof candidate?.$executeRaw !== 'function') {
    throw new OutboxError(
      'OUTBOX_NOT_IN_TRANSACTION',
      'publish needs the Prisma transaction client: prisma.$transaction(async (tx) => outbox.publish(tx, ...))',
    );
  }
  if (typeof candidate.$connect === 'function') {
    throw new OutboxError(
      'OUTBOX_NOT_IN_TRANSACTION',
      'publish was handed the root Prisma client; call it with the transaction client inside ' +
        'prisma.$transaction(async (tx) => ...), so the message commits (or rolls back) with your business rows',
    );
  }
}
