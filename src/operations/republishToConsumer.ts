import type { ConfirmChannel } from 'amqplib';
import type { ClaimedMessage } from '../relay/claimBatch.js';
import { messageProperties } from '../relay/publishBatch.js';
import type { RateLimiter } from '../timing/rateLimiter.js';

/**
 * Publishes stored messages again to one consumer's queue only (the default
 * exchange, routing key = queue name): same message ids and properties as the
 * relay's, plus a header saying why. In order, confirms streamed; resolves when
 * all are confirmed.
 */
export async function republishToConsumer(
  channel: ConfirmChannel,
  consumer: string,
  messages: ClaimedMessage[],
  marker: { header: string; value: string; appId: string },
  rateLimiter: RateLimiter,
): Promise<void> {
  const confirms: Promise<void>[] = [];
  for (const message of messages) {
    if (rateLimiter.limited) await rateLimiter.take();
    const properties = messageProperties(message, marker.appId);
    properties.headers = { ...properties.headers, [marker.header]: marker.value };
    confirms.push(
      new Promise<void>((resolve, reject) => {
        channel.publish('', consumer, Buffer.from(message.payload, 'utf8'), properties, (error: unknown) => (error ? reject(error) : resolve()));
      }),
    );
  }
  await Promise.all(confirms);
}
