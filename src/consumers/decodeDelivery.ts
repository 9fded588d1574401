import type { ConsumeMessage } from 'amqplib';
import type { EventCatalog } from '../catalog/eventCatalog.js';
import { HEADER_ATTEMPT, HEADER_EVENT_VERSION } from '../broker/wireFormat.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface DecodedDelivery {
  ok: true;
  messageId: string;
  eventType: string;
  version: number;
  payload: unknown;
  attempt: number;
  correlationId: string | undefined;
}

export interface MalformedDelivery {
  ok: false;
  /** Present when the message carries a usable id (its inbox row can record the verdict). */
  messageId: string | undefined;
  eventType: string | undefined;
  reason: string;
}

function header(message: ConsumeMessage, name: string): unknown {
  return message.properties.headers?.[name];
}

/**
 * Turns a delivery into a validated event of the catalog, or says precisely why
 * it cannot be one. Never throws: whatever arrives (random bytes, another
 * producer's message, a version this worker does not know) gets a verdict.
 */
export function decodeDelivery(message: ConsumeMessage, catalog: EventCatalog): DecodedDelivery | MalformedDelivery {
  const rawId: unknown = message.properties.messageId;
  const messageId = typeof rawId === 'string' && UUID.test(rawId) ? rawId.toLowerCase() : undefined;
  const rawType: unknown = message.properties.type ?? message.fields.routingKey;
  const eventType = typeof rawType === 'string' && rawType.length > 0 ? rawType : undefined;
  const malformed = (reason: string): MalformedDelivery => ({ ok: false, messageId, eventType, reason });

  if (!messageId) return malformed(`message-id ${JSON.stringify(rawId ?? null)} is not a UUID`);
  if (!eventType) return malformed('no event type (AMQP type property or routing key)');
  const contentType: unknown = message.properties.contentType;
  if (contentType !== undefined && contentType !== 'application/json') return malformed(`content-type ${JSON.stringify(contentType)} is not application/json`);

  const rawVersion = header(message, HEADER_EVENT_VERSION) ?? 1;
  const version = typeof rawVersion === 'number' ? rawVersion : Number.NaN;
  if (!Number.isSafeInteger(version) || version < 1) return malformed(`event version ${JSON.stringify(rawVersion)} is not a positive integer`);
  const definition = catalog.find(eventType, version);
  if (!definition) {
    return malformed(
      catalog.types.includes(eventType) ? `unknown version ${version} of event ${eventType}` : `unknown event type ${JSON.stringify(eventType.slice(0, 255))}`,
    );
  }

  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(message.content));
  } catch (error) {
    return malformed(`body is not UTF-8 JSON: ${(error as Error).message.slice(0, 200)}`);
  }
  const parsed = definition.schema.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`);
    return malformed(`payload fails the ${eventType} v${version} schema: ${issues.join('; ').slice(0, 1000)}`);
  }

  const attempt = attemptOf(message);
  const correlationId = typeof message.properties.correlationId === 'string' ? message.properties.correlationId : undefined;
  return { ok: true, messageId, eventType, version, payload: parsed.data, attempt, correlationId };
}

/** Which attempt a delivery is: 1, unless the header a retry tier's republish set says more. */
export function attemptOf(message: ConsumeMessage): number {
  const raw = header(message, HEADER_ATTEMPT);
  return typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 1 ? raw : 1;
}
