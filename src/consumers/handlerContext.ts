// What a consumer's handler is given about its delivery, the same whether it runs alone,
// in a group, or outside a transaction: one place for the idempotency key's form.
import type { Logger } from 'pino';
import type { HandlerContext } from '../catalog/defineConsumer.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import type { DecodedDelivery } from './decodeDelivery.js';

export function handlerContext(
  consumerName: string,
  decoded: DecodedDelivery,
  attempt: number,
  logger: Logger,
): Omit<HandlerContext<readonly EventDefinition[], unknown>, 'tx'> {
  const { messageId, eventType } = decoded;
  return {
    event: { type: eventType, version: decoded.version, payload: decoded.payload },
    messageId,
    attempt,
    idempotencyKey: `${consumerName}:${messageId}`,
    correlationId: decoded.correlationId,
    logger,
  };
}
