// Operator tools for a consumer's dead-letter queue: look, replay, purge.
import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import type { QueryRows } from '../database/sqlStore.js';
import { dlqName, type ConsumerEntry } from '../broker/consumerTopology.js';
import { DEAD_LETTER_HEADERS, HEADER_ATTEMPT, HEADER_DEAD_AT, HEADER_DEAD_ERROR, HEADER_DEAD_REASON, publishConfirmed } from '../broker/wireFormat.js';
import { reopenInbox } from './inbox.js';

export interface DeadLetterSummary {
  messageId: string | undefined;
  eventType: string | undefined;
  reason: string | undefined;
  error: string | undefined;
  attempts: number | undefined;
  deadAt: string | undefined;
  /** Dead-lettered by the broker (x-death) rather than by the worker: e.g. the delivery limit of a crash loop. */
  byBroker: boolean;
}

function summarize(message: GetMessage): DeadLetterSummary {
  const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
  const text = (value: unknown) => (value === undefined || value === null ? undefined : String(value));
  return {
    messageId: text(message.properties.messageId),
    eventType: text(message.properties.type ?? message.fields.routingKey),
    reason: text(headers[HEADER_DEAD_REASON]) ?? (headers['x-death'] ? 'delivery-limit' : undefined),
    error: text(headers[HEADER_DEAD_ERROR]),
    attempts: typeof headers[HEADER_ATTEMPT] === 'number' ? headers[HEADER_ATTEMPT] : undefined,
    deadAt: text(headers[HEADER_DEAD_AT]),
    byBroker: headers[HEADER_DEAD_REASON] === undefined,
  };
}

/** Takes every message of the queue (unacknowledged), up to `limit`. */
async function takeUnacked(channel: Channel, queue: string, limit: number): Promise<GetMessage[]> {
  const messages: GetMessage[] = [];
  while (messages.length < limit) {
    const message = await channel.get(queue, { noAck: false });
    if (message === false) break;
    messages.push(message);
  }
  return messages;
}

/** A dead letter with what it carried: for an operator to read before replaying it. */
export interface DeadLetter extends DeadLetterSummary {
  /** Its AMQP headers (the dead-letter ones included). */
  headers: Record<string, unknown>;
  correlationId: string | undefined;
  /** The body as UTF-8 text, cut at `maxPayloadBytes` (see payloadTruncated): JSON for a well-formed event. */
  payload: string;
  payloadTruncated: boolean;
}

/** The first `limit` dead letters with their headers and payloads, left in the queue. */
export async function readDeadLetters(channel: Channel, consumer: string, limit = 100, maxPayloadBytes = 65_536): Promise<DeadLetter[]> {
  const messages = await takeUnacked(channel, dlqName(consumer), limit);
  const letters = messages.map((message) => ({
    ...summarize(message),
    headers: { ...((message.properties.headers ?? {}) as Record<string, unknown>) },
    correlationId: typeof message.properties.correlationId === 'string' ? message.properties.correlationId : undefined,
    payload: message.content.subarray(0, maxPayloadBytes).toString('utf8'),
    payloadTruncated: message.content.length > maxPayloadBytes,
  }));
  for (const message of messages) channel.nack(message, false, true);
  return letters;
}

/**
 * Sends dead letters back to the consumer (`entry`: its work queue, or an ordered
 * consumer's partition exchange): same message id, attempt
 * 1, the dead-letter headers removed, the inbox row reopened first (so the worker
 * does not skip it as dead). Each is acknowledged from the DLQ only after the
 * broker confirmed the replay. Others stay. Returns the replayed message ids.
 */
export async function replayDeadLetters(
  channel: ConfirmChannel,
  query: QueryRows,
  consumer: string,
  entry: ConsumerEntry,
  select: { messageIds: string[] } | 'all',
  limit = 10_000,
): Promise<string[]> {
  const messages = await takeUnacked(channel, dlqName(consumer), limit);
  const wanted = select === 'all' ? undefined : new Set(select.messageIds.map((id) => id.toLowerCase()));
  const replay = messages.filter((message) => !wanted || wanted.has(String(message.properties.messageId).toLowerCase()));
  const keep = messages.filter((message) => !replay.includes(message));
  const ids = replay.map((message) => String(message.properties.messageId));
  try {
    await reopenInbox(
      query,
      consumer,
      ids.filter((id) => /^[0-9a-f-]{36}$/i.test(id)),
    );
    for (const message of replay) {
      const headers = { ...(message.properties.headers as Record<string, unknown>) };
      for (const name of DEAD_LETTER_HEADERS) delete headers[name];
      headers[HEADER_ATTEMPT] = 1;
      await publishConfirmed(channel, entry.exchange, entry.routingKey, message.content, { ...message.properties, headers, persistent: true });
      channel.ack(message);
    }
  } finally {
    for (const message of keep) channel.nack(message, false, true);
  }
  return ids;
}

/** Deletes every dead letter of the consumer. Returns how many. */
export async function purgeDeadLetters(channel: Channel, consumer: string): Promise<number> {
  return (await channel.purgeQueue(dlqName(consumer))).messageCount;
}
