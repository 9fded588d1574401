// Messages published straight to the exchange, as the relay would (or would not:
// malformed ones), for consumer tests that need exact control over deliveries.
import { randomUUID } from 'node:crypto';
import type { Channel, Options } from 'amqplib';

export interface RawEvent {
  type: string;
  payload?: unknown;
  body?: Buffer;
  messageId?: string;
  version?: number;
  properties?: Options.Publish;
}

export function publishRaw(channel: Channel, event: RawEvent, exchange = 'outbox.events'): string {
  const messageId = event.messageId ?? randomUUID();
  channel.publish(exchange, event.type, event.body ?? Buffer.from(JSON.stringify(event.payload)), {
    messageId,
    type: event.type,
    contentType: 'application/json',
    persistent: true,
    headers: { 'outbox-event-version': event.version ?? 1 },
    ...event.properties,
  });
  return messageId;
}
