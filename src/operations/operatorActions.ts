// What an operator does to the pipeline, one home for the CLI and the console (so
// they never disagree): dead letters listed, replayed, purged; failed outbox rows
// retried. Each action that changes something is written to the audit log, with
// what it did, or the error that stopped it.
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { connectFirstNode } from '../broker/connectFirstNode.js';
import { consumerEntry, dlqName, partitionExchangeName } from '../broker/consumerTopology.js';
import { purgeDeadLetters, readDeadLetters, replayDeadLetters, type DeadLetter } from '../consumers/deadLetterQueue.js';
import { retryFailedMessages } from '../database/retryFailedMessages.js';
import type { QueryRows } from '../database/sqlStore.js';
import { OutboxError } from '../errors.js';
import { withTimeout } from '../timing/bounded.js';
import { recordAudit, type Actor, type AuditAction } from './auditLog.js';

/** A broker operation never waits longer than this on a connection gone silent. */
const BROKER_OPERATION_TIMEOUT_MS = 30_000;

export interface DeadLetterSession {
  connection: ChannelModel;
  channel: ConfirmChannel;
}

/**
 * Runs `work` on a connection and confirm channel of its own, after checking the
 * consumer's DLQ exists (OUTBOX_INVALID_OPTIONS when not); closes both after, within a deadline.
 */
export async function withDeadLetterQueue<T>(amqpUrl: string | string[], consumer: string, work: (session: DeadLetterSession) => Promise<T>): Promise<T> {
  const connection = await connectFirstNode(amqpUrl, 'outbox-dlq');
  try {
    const channel = await connection.createConfirmChannel();
    // A refused operation (e.g. no such queue) closes the channel with an 'error' event; the awaited call reports it.
    channel.on('error', () => {});
    try {
      await channel.checkQueue(dlqName(consumer)).catch(() => {
        throw new OutboxError('OUTBOX_INVALID_OPTIONS', `no dead-letter queue ${dlqName(consumer)} (is "${consumer}" a consumer's name?)`);
      });
      return await withTimeout(
        work({ connection, channel }),
        BROKER_OPERATION_TIMEOUT_MS,
        `the broker did not answer within ${BROKER_OPERATION_TIMEOUT_MS / 1000} s`,
      );
    } finally {
      // The channel first: closing the connection alone can overtake the acks still
      // queued on the channel (seen: replayed dead letters left in the DLQ).
      await withTimeout(channel.close(), 5_000, 'channel close').catch(() => {});
    }
  } finally {
    await withTimeout(connection.close(), 5_000, 'connection close').catch(() => {});
  }
}

/** Whether the exchange exists (an ordered consumer's partition exchange): a passive check, on a channel of its own (a miss closes it). */
async function hasExchange(connection: ChannelModel, exchange: string): Promise<boolean> {
  const probe = await connection.createChannel();
  probe.on('error', () => {});
  try {
    await probe.checkExchange(exchange);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) return false;
    throw error;
  } finally {
    await probe.close().catch(() => {});
  }
}

export interface AuditContext {
  query: QueryRows;
  who: Actor;
}

/** Runs an action and records it: what it did, or the error it failed with (then rethrown). */
async function audited<T>(
  audit: AuditContext,
  action: AuditAction,
  target: string,
  asked: Record<string, unknown>,
  run: () => Promise<T>,
  did: (result: T) => Record<string, unknown>,
): Promise<T> {
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await recordAudit(audit.query, audit.who, action, target, { ...asked, error: error instanceof Error ? error.message : String(error) }).catch(() => {});
    throw error;
  }
  await recordAudit(audit.query, audit.who, action, target, { ...asked, ...did(result) });
  return result;
}

/** The consumer's first `limit` dead letters, with headers and payloads, left in place. */
export function listConsumerDeadLetters(amqpUrl: string | string[], consumer: string, limit: number): Promise<DeadLetter[]> {
  return withDeadLetterQueue(amqpUrl, consumer, ({ channel }) => readDeadLetters(channel, consumer, limit));
}

/**
 * Replays dead letters (all, or those ids) to the consumer: its work queue, or an
 * ordered consumer's partition exchange (`ordered` when known, else asked of the broker).
 * Returns the replayed ids.
 */
export function replayConsumerDeadLetters(
  amqpUrl: string | string[],
  audit: AuditContext,
  consumer: string,
  select: { messageIds: string[] } | 'all',
  ordered?: boolean,
): Promise<string[]> {
  const asked = select === 'all' ? { all: true } : { messageIds: select.messageIds };
  return audited(
    audit,
    'dlq.replay',
    consumer,
    asked,
    () =>
      withDeadLetterQueue(amqpUrl, consumer, async ({ connection, channel }) => {
        const entry = consumerEntry({ name: consumer, ordered: ordered ?? (await hasExchange(connection, partitionExchangeName(consumer))) });
        return replayDeadLetters(channel, audit.query, consumer, entry, select);
      }),
    (replayed) => ({ replayed: replayed.length, replayedIds: replayed }),
  );
}

/** Deletes every dead letter of the consumer; returns how many. Audited when `audit` is given (the CLI without DATABASE_URL has none). */
export function purgeConsumerDeadLetters(amqpUrl: string | string[], audit: AuditContext | undefined, consumer: string): Promise<number> {
  const purge = () => withDeadLetterQueue(amqpUrl, consumer, ({ channel }) => purgeDeadLetters(channel, consumer));
  if (!audit) return purge();
  return audited(audit, 'dlq.purge', consumer, {}, purge, (purged) => ({ purged }));
}

/** Failed outbox rows (all, or those ids) back to pending; returns the ids. */
export function retryFailedRows(audit: AuditContext, ids?: string[]): Promise<string[]> {
  return audited(
    audit,
    'relay.retry-failed',
    'relay',
    ids ? { messageIds: ids } : { all: true },
    () => retryFailedMessages(audit.query, ids),
    (retried) => ({ retried: retried.length, retriedIds: retried.slice(0, 1000) }),
  );
}
