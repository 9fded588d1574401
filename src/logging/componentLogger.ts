import { createLogger, type Logger } from './createLogger.js';
import { serializeError } from './serializeError.js';

/**
 * A component's logger: a child of the caller's (or the default) logger with the
 * component's fields, whose `err` field is always serialized with type, message,
 * stack and cause, whatever serializers the caller's logger was made with.
 */
export function componentLogger(base: Logger | undefined, bindings: Record<string, unknown>): Logger {
  return (base ?? createLogger()).child(bindings, { serializers: { err: serializeError } });
}
