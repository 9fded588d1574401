// One delivery, start to verdict: decode, then in one transaction record the
// inbox receipt (as done), run the handler, commit. The caller acts on the
// verdict on the broker (ack, retry, dead-letter) only after this returns, so
// nothing is acknowledged before its transaction committed. An ordered consumer's
// keyed message first takes its key's turn (orderedInbox.ts): it may be held or
// parked instead of run, and a failure for good parks its key. A handler wrapped in
// outsideTransaction runs between two short database steps instead
// (handleOutsideTransaction.ts).
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { EventCatalog } from '../catalog/eventCatalog.js';
import { loggableError } from '../logging/loggableError.js';
import { isConnectionFailure } from '../database/connectionSettings.js';
import { prismaQueryRows, type PrismaRootClient } from '../database/sqlStore.js';
import { decodeDelivery } from './decodeDelivery.js';
import { outsideTransactionHandler, type ResolvedConsumer } from '../catalog/defineConsumer.js';
import { INBOX_IDLE_MARGIN_MS, recordInboxFailure, recordInboxReceipt } from './inbox.js';
import { handlerContext } from './handlerContext.js';
import { ReleaseFailed, type ReleaseHeld } from './releaseHeld.js';
import { typesMatching } from '../catalog/topicPattern.js';
import { completeKeyTurn, enterKey, parkKey, takeKeyTurn, type KeyedMessage } from './orderedInbox.js';
import { NonRetryableError } from './nonRetryableError.js';
import { handleOutsideTransaction } from './handleOutsideTransaction.js';

// `error` is the text that travels (headers, inbox row); `thrown` is what was
// thrown, for the log (type, stack, cause). A malformed delivery threw nothing.
export type Verdict =
  | { action: 'ack'; outcome: 'done' | 'duplicate' }
  /** Ordered consumers: held until an earlier message of its key is done, or its key is parked. */
  | { action: 'ack'; outcome: 'held' | 'parked'; messageId: string; eventType: string; orderingKey: string }
  /** Ordered consumers: failed for good; it and its key's later messages are parked (recorded). */
  | {
      action: 'park';
      messageId: string;
      eventType: string;
      orderingKey: string;
      attempts: number;
      reason: 'handler-failed' | 'non-retryable';
      error: string;
      thrown: unknown;
    }
  /** The handler failed: try again after the next delay, as attempt `nextAttempt`. */
  | { action: 'retry'; messageId: string; eventType: string; nextAttempt: number; error: string; thrown: unknown }
  | {
      action: 'dead-letter';
      messageId: string | undefined;
      eventType: string | undefined;
      attempts: number;
      reason: 'handler-failed' | 'non-retryable' | 'malformed';
      error: string;
      thrown?: unknown;
    }
  /** The database is unreachable, or the connection failed: the same attempt again after a delay, not counted. */
  | { action: 'defer'; messageId: string; eventType: string; attempt: number; error: string; thrown: unknown };

export interface DeliveryContext {
  prisma: PrismaRootClient;
  catalog: EventCatalog;
  consumer: ResolvedConsumer;
  logger: Logger;
  transactionTimeoutMs: number;
  /** Ordered consumers: sends the messages a done one released, before its commit. */
  releaseHeld: ReleaseHeld;
}

/** `attemptInPlace`: the attempt an ordered delivery retried in place is at (its header still says the first). */
export async function handleDelivery(message: ConsumeMessage, context: DeliveryContext, attemptInPlace?: number): Promise<Verdict> {
  const { prisma, catalog, consumer, transactionTimeoutMs } = context;
  const decoded = decodeDelivery(message, catalog);
  if (!decoded.ok) {
    return { action: 'dead-letter', messageId: decoded.messageId, eventType: decoded.eventType, attempts: 1, reason: 'malformed', error: decoded.reason };
  }
  const { messageId, eventType } = decoded;
  const attempt = attemptInPlace ?? decoded.attempt;
  // Per-delivery lines are debug: at info a worker says what it did in its periodic summary.
  const logger = context.logger.child({ messageId, eventType, consumer: consumer.name, attempt });
  logger.debug('delivery received');
  const startedAt = performance.now();
  const elapsedMs = () => Math.round((performance.now() - startedAt) * 10) / 10;

  // Failures before the handler started are the infrastructure's (not counted), and
  // so are connections lost or gone silent at any point; other failures from then
  // on (handler, mark, commit, transaction timeout) count as attempts.
  let handlerStarted = false;
  // Ordered consumers: the message's key and seq, once the transaction found them.
  let keyed: KeyedMessage | undefined;
  const eventTypes = consumer.ordered ? typesMatching(consumer.events, catalog.types) : [];
  const outside = outsideTransactionHandler(consumer.handle);
  try {
    const outcome = outside
      ? await handleOutsideTransaction(outside, { decoded, attempt, logger, started: () => (handlerStarted = true) }, context)
      : await prisma.$transaction(
          async (tx) => {
            const query = prismaQueryRows(tx);
            const idleTimeoutMs = transactionTimeoutMs + INBOX_IDLE_MARGIN_MS;
            keyed = consumer.ordered ? await enterKey(query, consumer.name, messageId, idleTimeoutMs) : undefined;
            if (keyed?.inTurn) {
              if (!keyed.recorded) return 'duplicate' as const;
            } else if (keyed) {
              const turn = await takeKeyTurn(query, consumer.name, messageId, keyed, eventTypes);
              if (turn.turn === 'wait') {
                logger.debug({ orderingKey: keyed.orderingKey, blockedBy: turn.blockedBy }, 'held: an earlier message of its key is not done');
                return 'held' as const;
              }
              if (turn.turn !== 'run') return turn.turn;
            } else if (!(await recordInboxReceipt(query, consumer.name, messageId, idleTimeoutMs))) {
              return 'duplicate' as const;
            }
            logger.debug('work started');
            handlerStarted = true;
            await consumer.handle({ ...handlerContext(consumer.name, decoded, attempt, logger), tx });
            // Decided on the spot, the done position has moved already: only held messages need more.
            if (keyed && (!keyed.inTurn || keyed.hasWaiting)) {
              const released = await completeKeyTurn(query, consumer.name, keyed);
              if (released.length > 0) await context.releaseHeld(consumer, released);
            }
            return 'handled' as const;
          },
          { timeout: transactionTimeoutMs, maxWait: transactionTimeoutMs },
        );
    if (outcome === 'handled') {
      logger.debug({ durationMs: elapsedMs() }, 'work finished');
      return { action: 'ack', outcome: 'done' };
    }
    if (outcome === 'held' || outcome === 'parked') return { action: 'ack', outcome, messageId, eventType, orderingKey: keyed!.orderingKey };
    logger.debug('skipped: already done or dead (duplicate delivery)');
    return { action: 'ack', outcome: 'duplicate' };
  } catch (error) {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    // The connection failed or went silent: the database's fault, not the message's.
    // Nothing to record either: the database is not likely to answer that now.
    if (isConnectionFailure(error) || error instanceof ReleaseFailed) return { action: 'defer', messageId, eventType, attempt, error: text, thrown: error };
    const nonRetryable = error instanceof NonRetryableError;
    const dead = nonRetryable || attempt >= consumer.maxAttempts;
    // Recording the failure doubles as a database health check: if it fails too,
    // the database is away and the attempt is not the message's fault. A message
    // to dead-letter stays 'processing' here: the worker marks it dead once the
    // dead-letter queue has confirmed it, so a dead inbox row always has its copy
    // in the DLQ (a redelivery of a dead message is skipped).
    try {
      await recordInboxFailure(prismaQueryRows(prisma), consumer.name, messageId, 'processing', attempt, text);
    } catch {
      return { action: 'defer', messageId, eventType, attempt, error: text, thrown: error };
    }
    if (!handlerStarted) return { action: 'defer', messageId, eventType, attempt, error: text, thrown: error };
    if (dead && keyed) {
      // Ordered: not dead-lettered (later messages of its key would overtake it) but parked, with them.
      try {
        await parkKey(prismaQueryRows(prisma), consumer.name, messageId, keyed, attempt, text);
      } catch {
        return { action: 'defer', messageId, eventType, attempt, error: text, thrown: error };
      }
      const reason = nonRetryable ? 'non-retryable' : 'handler-failed';
      return { action: 'park', messageId, eventType, orderingKey: keyed.orderingKey, attempts: attempt, reason, error: text, thrown: error };
    }
    if (dead) {
      return {
        action: 'dead-letter',
        messageId,
        eventType,
        attempts: attempt,
        reason: nonRetryable ? 'non-retryable' : 'handler-failed',
        error: text,
        thrown: error,
      };
    }
    logger.warn({ err: loggableError(error), durationMs: elapsedMs() }, 'work failed; retrying after a delay');
    return { action: 'retry', messageId, eventType, nextAttempt: attempt + 1, error: text, thrown: error };
  }
}
