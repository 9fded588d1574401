// One relay batch: claim due rows, publish them with confirms, settle what the
// broker answered (confirmed rows keep their mark; the others are put back with an
// attempt counted), commit: one short transaction, under a deadline.
import type { BrokerConnection } from '../broker/brokerConnection.js';
import type { QueryRows, SqlStore } from '../database/sqlStore.js';
import type { StoredMessage } from '../database/storedMessage.js';
import type { ComponentEvents } from '../lifecycle/componentEvents.js';
import type { Logger } from '../logging/createLogger.js';
import type { RateLimiter } from '../timing/rateLimiter.js';
import { isPartitioned } from '../database/partitionLayout.js';
import { claimBatch, type ClaimLayout, configureBatchTransaction } from './claimBatch.js';
import type { HeadBudget } from './headBudget.js';
import { publishBatch, type PublishOutcome } from './publishBatch.js';
import type { ResolvedRelayOptions } from './relayOptions.js';
import { STUCK, unlessStuck, type RelayLiveness } from './relayLiveness.js';
import { recordFailedAttempts, releaseUnsent } from './settleUnconfirmed.js';

export interface RelayBatchReport {
  claimed: number;
  published: number;
  /** Nacked or unconfirmed in time: retried later with backoff (or failed for good). */
  retried: number;
  /** Reached maxPublishAttempts: status failed. */
  failed: number;
  /** Released untouched: the channel closed mid-batch (broker restart, connection loss). */
  interrupted: number;
  /** Where the batch's time went (ms): for profiling, and the `batch done` debug line. */
  phasesMs?: BatchPhases;
}

/**
 * A batch's phases, in ms: `claim` (transaction start and the claim statement),
 * `publish` (handing the messages to the channel), `confirm` (waiting for the
 * broker's confirms after that), `settle` (putting back what was not confirmed),
 * `commit`.
 */
export interface BatchPhases {
  claim: number;
  publish: number;
  confirm: number;
  settle: number;
  commit: number;
}

export type RelayRunReport = Omit<RelayBatchReport, 'phasesMs'> & { batches: number };

export interface RelayEvents {
  'batch:published': [RelayBatchReport];
  /** The broker's answers of a batch: for metrics (a message's latency is from its row's creation to its confirm). */
  'batch:confirmed': [{ nacked: number; timedOut: number; published: { eventType: string; latencyMs: number }[] }];
  'message:failed': [{ messageId: string; eventType: string; attempts: number; error: string }];
}

const NACKED = 'broker nack';
const LAYOUT_RECHECK_MS = 60_000;
const UNCONFIRMED = 'confirm timeout';

export interface BatchContext {
  config: ResolvedRelayOptions;
  batchSize: number;
  rateLimiter: RateLimiter;
  liveness: RelayLiveness;
  events: ComponentEvents<RelayEvents>;
  logger: Logger;
  /** The current connections, opened on first use. */
  connect(): { store: SqlStore; broker: BrokerConnection };
  /** The watchdog's remedy: let go of the connections, so the next batch opens new ones. */
  dropConnections(): Promise<void>;
}

/**
 * The batch runner: resolves with what a batch did, undefined when nothing was due.
 * Waits for the broker as long as it takes, or `brokerWaitMs` at most.
 */
export function createBatchRunner(
  context: BatchContext,
): (heads: HeadBudget, signal: AbortSignal, brokerWaitMs?: number) => Promise<RelayBatchReport | undefined> {
  const { config, batchSize, rateLimiter, liveness, events, logger, connect, dropConnections } = context;
  // Whether outbox_message is partitioned (the claim reads it differently): asked again
  // now and then, so tables partitioned while the relay runs are read the cheaper way soon.
  let layout: (ClaimLayout & { store: SqlStore; checkedAt: number }) | undefined;
  async function claimLayout(store: SqlStore, query: QueryRows): Promise<ClaimLayout> {
    if (!layout || layout.store !== store || performance.now() - layout.checkedAt > LAYOUT_RECHECK_MS) {
      const partitioned = await isPartitioned(query);
      if (partitioned && !layout?.partitioned)
        logger.info('outbox_message is partitioned: each claim reads the partitions from the day before its oldest unfinished row');
      layout = { store, partitioned, checkedAt: performance.now() };
    }
    return layout;
  }

  /** Confirmed rows keep the claim's mark; the others are put back, in the same transaction. */
  async function settle(query: QueryRows, messages: StoredMessage[], outcome: PublishOutcome): Promise<RelayBatchReport> {
    await releaseUnsent(query, outcome.interrupted);
    const attempts = [
      ...(await recordFailedAttempts(query, outcome.nacked, NACKED, config)).map((attempt) => ({ ...attempt, error: NACKED })),
      ...(await recordFailedAttempts(query, outcome.timedOut, UNCONFIRMED, config)).map((attempt) => ({ ...attempt, error: UNCONFIRMED })),
    ];
    // Off the hot path unless metrics (or the app) listen.
    if (events.listens('batch:confirmed')) {
      const confirmedAt = Date.now();
      const byId = new Map(messages.map((message) => [message.id, message]));
      events.emit('batch:confirmed', {
        nacked: outcome.nacked.length,
        timedOut: outcome.timedOut.length,
        published: outcome.confirmed.map((id) => {
          const message = byId.get(id)!;
          return { eventType: message.eventType, latencyMs: confirmedAt - message.createdAt.getTime() };
        }),
      });
    }
    const eventTypes = new Map(messages.map((message) => [message.id, message.eventType]));
    let failed = 0;
    for (const attempt of attempts) {
      const context = { messageId: attempt.id, eventType: eventTypes.get(attempt.id)!, attempts: attempt.attempts, error: attempt.error };
      if (attempt.status === 'failed') {
        failed += 1;
        logger.error(context, 'publish failed for good: row marked failed (retry it with retry-failed)');
        events.emit('message:failed', context);
      } else {
        logger.debug(context, 'publish not confirmed; retrying with backoff');
      }
    }
    // One line per batch, not per message: a refusing queue nacks whole batches.
    const retrying = attempts.filter((attempt) => attempt.status !== 'failed');
    if (retrying.length > 0) {
      logger.warn(
        {
          retried: retrying.length,
          nacked: outcome.nacked.length,
          timedOut: outcome.timedOut.length,
          messageIds: retrying.slice(0, 10).map((attempt) => attempt.id),
        },
        'publishes not confirmed (broker nack or confirm timeout); retrying them with backoff',
      );
    }
    return {
      claimed: messages.length,
      published: outcome.confirmed.length,
      retried: attempts.length - failed,
      failed,
      interrupted: outcome.interrupted.length,
    };
  }

  /**
   * One batch: claim, publish, wait for confirms, mark, commit. Returns undefined when
   * nothing was due. Waits for the broker as long as it takes, or `brokerWaitMs` at most.
   */
  async function processBatch(heads: HeadBudget, signal: AbortSignal, brokerWaitMs?: number): Promise<RelayBatchReport | undefined> {
    const { store: db, broker: mq } = connect();
    // The channel first: never hold row locks while waiting for the broker.
    const channel = brokerWaitMs === undefined ? await mq.confirmChannel(signal) : await mq.confirmChannelWithin(brokerWaitMs, signal);
    if (signal.aborted) return undefined;
    const started = performance.now();
    let phases: BatchPhases | undefined;
    let settledAt = 0;
    const batch = db.transaction(async (query) => {
      await configureBatchTransaction(query, config.confirmTimeoutMs + 10_000);
      const messages = await claimBatch(query, batchSize, heads, await claimLayout(db, query));
      if (messages.length === 0) return undefined;
      const claimedAt = performance.now();
      const outcome = await publishBatch(channel, messages, {
        exchange: config.exchange,
        appId: config.appId,
        confirmTimeoutMs: config.confirmTimeoutMs,
        rateLimiter,
      });
      // Unconfirmed messages may still be confirmed later on this channel, and a quorum
      // queue that refused a publish may keep refusing this channel after it recovered:
      // either way, start afresh.
      if (outcome.timedOut.length > 0 || outcome.nacked.length > 0) mq.discardChannel(channel);
      const confirmedAt = performance.now();
      const settled = await settle(query, messages, outcome);
      settledAt = performance.now();
      phases = {
        claim: claimedAt - started,
        publish: outcome.writtenMs,
        confirm: confirmedAt - claimedAt - outcome.writtenMs,
        settle: settledAt - confirmedAt,
        commit: 0,
      };
      return settled;
    }, config.confirmTimeoutMs + 30_000);
    // The statement and reply timeouts bound every step; this deadline is the last
    // resort for what they cannot see (an app's Prisma pool without them).
    let report: Awaited<typeof batch> | typeof STUCK;
    try {
      report = await unlessStuck(batch, config.stuckAfterMs);
    } catch (error) {
      liveness.database.failed(error);
      throw error;
    }
    if (report === STUCK) {
      logger.error(
        { stuckAfterMs: config.stuckAfterMs },
        'relay batch stuck (a database or broker connection that stopped answering?): dropping the connections, starting afresh',
      );
      void dropConnections();
      throw new Error(`relay batch unfinished after ${config.stuckAfterMs} ms`);
    }
    liveness.database.succeeded();
    if (!report) return report;
    if (phases) {
      phases.commit = performance.now() - settledAt;
      report.phasesMs = phases;
    }
    logger.debug(report, 'batch done');
    return report;
  }

  return processBatch;
}
