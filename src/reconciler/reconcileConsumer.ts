// One consumer's part of a run: move its watermark, find what it is owed and not
// done, keep only what is provably lost when its queue holds a backlog, re-publish
// that in chunks, and record each chunk once the broker confirmed it.
import type { QueryRows } from '../database/sqlStore.js';
import { OutboxError } from '../errors.js';
import type { Logger } from '../logging/createLogger.js';
import { republishMessages, type RepublishMarker } from '../broker/republishToConsumer.js';
import type { RateLimiter } from '../timing/rateLimiter.js';
import { untilAborted } from '../timing/bounded.js';
import { advanceWatermark, findUndoneMessages, readDeliveryFrontier, readOldestNotDone, type BacklogWindow, type ConsumerRecord } from './consumerBacklog.js';
import type { ReconcilerBroker } from './reconcilerBroker.js';
import type { RunProgress } from './runProgress.js';

export interface ConsumerReconciliation {
  consumer: string;
  /** Outbox rows looked at after the consumer's watermark. */
  scanned: number;
  /** Re-published, confirmed by the broker. */
  rescheduled: number;
  /** The consumer's watermark after the run: a position in (writer_xid, seq) order. */
  watermarkSeq: string;
  watermarkXid: string;
  /** Messages ready in its queue when the run looked (null: it did not need to look). */
  queueDepth: number | null;
  /** Owed, but not re-published: its queue holds a backlog they may be waiting in. */
  deferred: number;
  /** When the oldest owed message not done yet (past the grace period) was written, as the run found it; null: none. */
  oldestNotDoneAt: string | null;
}

export interface ConsumerPass {
  /** Short statements (progress). */
  query: QueryRows;
  /** The scans after the watermark, which may take longer. */
  scan: QueryRows;
  broker: ReconcilerBroker;
  progress: RunProgress;
  rateLimiter: RateLimiter;
  marker: RepublishMarker;
  /** Aborts when the run must stop (lock lost, stopping). */
  signal: AbortSignal;
  /** Proves the run still holds the reconciler lock: before each chunk, so two replicas never re-publish at once. */
  verifyLock: () => Promise<void>;
  logger: Logger;
}

/** Re-publishes recorded per chunk: a failure later loses at most one chunk's record (kept to write later). */
const CHUNK = 500;
/**
 * How much later than a lost message another must have been first published for
 * its delivery to prove the lost one left the queue: covers the relay's publish-to-
 * mark delay (published_at is set after the broker confirmed).
 */
export const FIFO_MARGIN_MS = 60_000;

/** Messages ready in the queues together; null when one of them does not exist. */
async function queuesDepth(pass: ConsumerPass, queues: readonly string[], signal: AbortSignal): Promise<number | null> {
  let total = 0;
  for (const queue of queues) {
    const depth = await pass.broker.queueDepth(queue, signal);
    if (depth === null) return null;
    total += depth;
  }
  return total;
}

export async function reconcileConsumer(pass: ConsumerPass, record: ConsumerRecord, window: BacklogWindow, budget: number): Promise<ConsumerReconciliation> {
  const { signal, logger } = pass;
  const consumer = window.consumer;
  const { scanned, watermark } = await untilAborted(advanceWatermark(pass.scan, record, window), signal);
  pass.progress.addScanned(scanned);
  const current = { ...record, watermark };
  const oldestNotDone = await untilAborted(readOldestNotDone(pass.scan, current, window), signal);
  const result: ConsumerReconciliation = {
    consumer,
    scanned,
    rescheduled: 0,
    watermarkSeq: watermark.seq,
    watermarkXid: watermark.xid,
    queueDepth: null,
    deferred: 0,
    oldestNotDoneAt: oldestNotDone?.toISOString() ?? null,
  };
  if (budget <= 0) return result;
  const owed = await untilAborted(findUndoneMessages(pass.scan, current, window, budget), signal);
  if (owed.length === 0) return result;

  // The channel first: it declares the queue (someone may have deleted it).
  let channel = await pass.broker.confirmChannel(signal);
  let depth = await queuesDepth(pass, window.queues, signal);
  if (depth === null) {
    // Deleted since the channel declared it: a new channel declares it again (empty).
    await pass.broker.discard(channel);
    channel = await pass.broker.confirmChannel(signal);
    depth = (await queuesDepth(pass, window.queues, signal)) ?? 0;
  }
  // An ordered consumer's partitions are judged together: a backlog in any of them
  // defers by the consumer's delivery frontier, which may re-publish a message still
  // waiting in another partition (its inbox turns it into a skip).
  result.queueDepth = depth;
  let lost = owed;
  if (result.queueDepth > 0) {
    // A backlog: the owed messages may be waiting in it. Only those the queue has
    // provably delivered past are lost.
    const frontier = await untilAborted(readDeliveryFrontier(pass.scan, consumer, watermark), signal);
    lost =
      frontier === null
        ? []
        : await untilAborted(findUndoneMessages(pass.scan, current, window, budget, { lostBefore: new Date(frontier.getTime() - FIFO_MARGIN_MS) }), signal);
    result.deferred = Math.max(0, owed.length - lost.length);
    logger.info(
      { consumer, queueDepth: result.queueDepth, owed: owed.length, provablyLost: lost.length, deliveredUpTo: frontier?.toISOString() ?? null },
      'consumer queue holds a backlog: re-publishing only messages it has delivered past',
    );
  }

  // Ordered: a key's messages in seq order, so none is sent ahead of an earlier one of its key
  // (the inbox holds one that comes early anyway; this keeps holds rare).
  if (window.ordered) lost = [...lost].sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
  for (let start = 0; start < lost.length; start += CHUNK) {
    const chunk = lost.slice(start, start + CHUNK);
    await untilAborted(pass.verifyLock(), signal);
    if (start > 0) channel = await pass.broker.confirmChannel(signal);
    // To this consumer's queue (or partitions) only: the others do not see it again.
    const outcome = await republishMessages(channel, window.entry, chunk, pass.marker, pass.rateLimiter, { signal });
    result.rescheduled += outcome.confirmed.length;
    await untilAborted(pass.progress.confirmed(consumer, outcome.confirmed), signal);
    if (outcome.stoppedBy === undefined) continue;
    logger.debug(
      { consumer, confirmed: outcome.confirmed.length, unconfirmed: outcome.unconfirmed.length, stoppedBy: outcome.stoppedBy },
      're-publish chunk stopped',
    );
    if (outcome.stoppedBy === 'aborted') throw signal.reason;
    if (outcome.stoppedBy === 'nacked') {
      // The queue refuses (e.g. full, reject-publish): the rest would be refused too.
      logger.warn(
        { consumer, nacked: outcome.unconfirmed.length, messageIds: outcome.unconfirmed.slice(0, 20) },
        'the broker refused re-published messages; the next run tries again',
      );
      break;
    }
    if (outcome.stoppedBy === 'deadline') await pass.broker.discard(channel);
    throw new OutboxError(
      'OUTBOX_BROKER_UNREACHABLE',
      `the broker connection was lost while re-publishing to ${consumer} (${outcome.stoppedBy}): ${result.rescheduled} confirmed in this run, ${outcome.unconfirmed.length} of the last ${chunk.length} sent not`,
    );
  }
  if (result.rescheduled > 0) {
    logger.warn(
      { consumer, rescheduled: result.rescheduled, messageIds: lost.slice(0, 20).map((message) => message.id) },
      're-scheduled side effects not done',
    );
  }
  return result;
}
