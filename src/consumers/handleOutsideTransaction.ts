// A handler wrapped in outsideTransaction: the attempt recorded in a statement of its
// own, the handler (the slow external call) run with no transaction open, then the
// handler's writes and "done" in a second short transaction. No pooled connection waits
// on the provider. A crash between the call and the second transaction repeats the
// call on redelivery (the provider deduplicates on the idempotency key); a message
// already done is skipped before the call.
import type { Logger } from 'pino';
import type { OutsideTransactionContext, HandlerContext } from '../catalog/defineConsumer.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import { prismaQueryRows } from '../database/sqlStore.js';
import { loggableError } from '../logging/loggableError.js';
import type { DecodedDelivery } from './decodeDelivery.js';
import type { DeliveryContext } from './handleDelivery.js';
import { completeInbox, INBOX_IDLE_MARGIN_MS, recordInboxAttempt } from './inbox.js';
import { handlerContext } from './handlerContext.js';

type OutsideHandler = (context: OutsideTransactionContext<HandlerContext<readonly EventDefinition[], unknown>>) => Promise<void>;

export interface OutsideRun {
  decoded: DecodedDelivery;
  attempt: number;
  logger: Logger;
  /** Called once the attempt is recorded and the handler is about to run (failures from then on count). */
  started(): void;
}

export async function handleOutsideTransaction(handler: OutsideHandler, run: OutsideRun, context: DeliveryContext): Promise<'handled' | 'duplicate'> {
  const { prisma, consumer, transactionTimeoutMs } = context;
  const { decoded, attempt, logger } = run;
  const { messageId } = decoded;
  if (!(await recordInboxAttempt(prismaQueryRows(prisma), consumer.name, messageId))) return 'duplicate';
  run.started();
  logger.debug('work started (outside a transaction)');

  let completion: Promise<boolean> | undefined;
  const complete = (work?: (tx: unknown) => Promise<void>): Promise<boolean> => {
    if (completion) return Promise.reject(new Error(`complete() was called twice for message ${messageId}`));
    completion = prisma.$transaction(
      async (tx) => {
        if (!(await completeInbox(prismaQueryRows(tx), consumer.name, messageId, transactionTimeoutMs + INBOX_IDLE_MARGIN_MS))) return false;
        await work?.(tx);
        return true;
      },
      { timeout: transactionTimeoutMs, maxWait: transactionTimeoutMs },
    );
    return completion;
  };

  try {
    await handler({ ...handlerContext(consumer.name, decoded, attempt, logger), complete });
  } catch (error) {
    // Thrown after complete() committed: the message is done, and a retry would only be skipped.
    if (completion && (await completion.catch(() => false))) {
      logger.warn({ err: loggableError(error) }, 'handler threw after complete(); the message is done');
      return 'handled';
    }
    throw error;
  }
  // The handler returned without completing: done with no writes of its own.
  return (await (completion ?? complete())) ? 'handled' : 'duplicate';
}
