// What travels on the wire, in one place: the header names every component reads or
// writes, the AMQP properties of a published event, and a confirmed single publish.
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import type { StoredMessage } from '../database/storedMessage.js';

/** The event's schema version (the relay). */
export const HEADER_EVENT_VERSION = 'outbox-event-version';
/** The ordering key, when the event has one (the relay). */
export const HEADER_ORDERING_KEY = 'outbox-ordering-key';
/**
 * What ordered consumers' partition exchanges hash on: the ordering key, or the
 * message id for an event without one (spread over the partitions).
 */
export const HEADER_PARTITION_KEY = 'outbox-partition-key';
/** The consumer's attempt this delivery is (the worker's retries; absent: 1). */
export const HEADER_ATTEMPT = 'outbox-attempt';
/** The last handler error, on a retried message (the worker). */
export const HEADER_LAST_ERROR = 'outbox-last-error';
/** When the reconciler re-published it (the reconciler). */
export const HEADER_RESCHEDULED_AT = 'outbox-rescheduled-at';
/** When a held message was sent again, its predecessor done (ordered consumers). */
export const HEADER_RELEASED_AT = 'outbox-released-at';
/** When `outbox replay` sent it again. */
export const HEADER_REPLAYED_AT = 'outbox-replayed-at';
/** Why, what, whose and when, on a dead letter (the worker). */
export const HEADER_DEAD_REASON = 'outbox-dead-reason';
export const HEADER_DEAD_ERROR = 'outbox-dead-error';
export const HEADER_DEAD_CONSUMER = 'outbox-dead-consumer';
export const HEADER_DEAD_AT = 'outbox-dead-at';
/** Headers that make a message a dead letter: ours, and the broker's own (x-death...). A replay removes them. */
export const DEAD_LETTER_HEADERS = [
  HEADER_DEAD_REASON,
  HEADER_DEAD_ERROR,
  HEADER_DEAD_CONSUMER,
  HEADER_DEAD_AT,
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
] as const;

/** The AMQP properties of a stored event, as the relay publishes it (and re-publishes keep). */
export function messageProperties(message: StoredMessage, appId: string): Options.Publish {
  // Most events carry no headers: skip parsing "{}" on the hot path.
  const { correlationId, ...headers } = message.headers === '{}' ? {} : (JSON.parse(message.headers) as Record<string, unknown>);
  return {
    messageId: message.id,
    type: message.eventType,
    timestamp: Math.floor(message.createdAt.getTime() / 1000),
    contentType: 'application/json',
    persistent: true,
    appId,
    ...(typeof correlationId === 'string' ? { correlationId } : {}),
    headers: {
      ...headers,
      [HEADER_EVENT_VERSION]: message.eventVersion,
      ...(message.orderingKey === null ? {} : { [HEADER_ORDERING_KEY]: message.orderingKey }),
      [HEADER_PARTITION_KEY]: message.orderingKey ?? message.id,
    },
  };
}

/** A delivery's properties for publishing it again (a retry tier, a dead-letter queue, a replay), with `headers` added. */
export function redeliveryProperties(message: ConsumeMessage, headers: Record<string, unknown>): Options.Publish {
  const { properties } = message;
  return {
    messageId: properties.messageId as string | undefined,
    type: properties.type as string | undefined,
    timestamp: properties.timestamp as number | undefined,
    contentType: properties.contentType as string | undefined,
    correlationId: properties.correlationId as string | undefined,
    appId: properties.appId as string | undefined,
    persistent: true,
    headers: { ...properties.headers, ...headers },
  };
}

/**
 * One publish, resolved when the broker confirmed it and rejected when it refused it
 * (or the channel was already closing). For batches, stream instead (publishBatch).
 */
export function publishConfirmed(channel: ConfirmChannel, exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      channel.publish(exchange, routingKey, content, options, (error: unknown) => (error ? reject(asError(error)) : resolve()));
    } catch (error) {
      reject(asError(error));
    }
  });
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
