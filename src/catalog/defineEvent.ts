import type { z } from 'zod';
import { OutboxError } from '../errors.js';

/**
 * An event type is the AMQP routing key on the topic exchange: lower-case words of
 * [a-z0-9_-] separated by dots. `*` and `#` are binding wildcards, never part of a type.
 */
const EVENT_TYPE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const MAX_EVENT_TYPE_LENGTH = 255;

export interface EventDefinition<TType extends string = string, TSchema extends z.ZodType = z.ZodType, TVersion extends number = number> {
  /** Routing key, e.g. "order.placed". */
  readonly type: TType;
  /** Schema version of the payload; consumers decode by (type, version), and a handler can narrow `event.payload` by it. */
  readonly version: TVersion;
  readonly schema: TSchema;
}

/** The payload a caller passes for an event (before zod defaults and transforms). */
export type EventPayloadInput<E extends EventDefinition> = z.input<E['schema']>;
/** The payload as validated and stored. */
export type EventPayload<E extends EventDefinition> = z.output<E['schema']>;

export function assertValidEventType(type: unknown): asserts type is string {
  if (typeof type !== 'string' || type.length > MAX_EVENT_TYPE_LENGTH || !EVENT_TYPE.test(type)) {
    throw new OutboxError(
      'OUTBOX_INVALID_EVENT_TYPE',
      `invalid event type ${JSON.stringify(type)}: use lower-case words of [a-z0-9_-] separated by dots ` +
        `(e.g. "order.placed"), at most ${MAX_EVENT_TYPE_LENGTH} characters; "*" and "#" are only for consumer patterns`,
    );
  }
}

/**
 * Declares an event of the catalog: its type (routing key), the zod schema of its
 * payload and the schema version. Prefer thin events: the event name plus ids.
 *
 * @example
 * const orderPlaced = defineEvent('order.placed', z.object({ orderId: z.string().uuid() }));
 */
export function defineEvent<const TType extends string, TSchema extends z.ZodType, const TVersion extends number = 1>(
  type: TType,
  schema: TSchema,
  options: { version?: TVersion } = {},
): EventDefinition<TType, TSchema, TVersion> {
  assertValidEventType(type);
  // Without options.version, TVersion is its default, 1.
  const version = (options.version ?? 1) as TVersion;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new OutboxError('OUTBOX_INVALID_CATALOG', `event ${type}: version must be a positive integer, got ${String(version)}`);
  }
  if (typeof schema?.safeParse !== 'function') {
    throw new OutboxError('OUTBOX_INVALID_CATALOG', `event ${type}: schema must be a zod schema`);
  }
  return Object.freeze({ type, version, schema });
}
