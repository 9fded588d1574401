import { redactSecrets } from './redactUrl.js';

/** What a non-Error throw (a string, an object) is logged as. */
export class NonErrorThrown extends Error {
  override readonly name = 'NonErrorThrown';
}

/**
 * The error to log under `err`: a copy with the same type (prototype), message,
 * stack, cause (copied the same way) and own fields, with the given URLs'
 * passwords replaced by "***" in every text. Logging the error itself, not
 * `{ message }`, is what keeps its type, stack and cause in the log line.
 */
export function loggableError(error: unknown, secrets: readonly string[] = [], depth = 0): Error {
  const redact = (text: string) => (secrets.length === 0 ? text : redactSecrets(text, [...secrets]));
  if (!(error instanceof Error)) {
    // Its stack is where it was caught: a thrown value carries none of its own.
    return new NonErrorThrown(redact(typeof error === 'string' ? error : safeJson(error)));
  }
  const copy = Object.create(Object.getPrototypeOf(error) as object) as Error;
  for (const [key, value] of Object.entries(error)) {
    Object.defineProperty(copy, key, { value: typeof value === 'string' ? redact(value) : value, writable: true, configurable: true, enumerable: true });
  }
  define(copy, 'message', redact(error.message));
  define(copy, 'stack', redact(error.stack ?? `${error.name}: ${error.message}`));
  if (error.name !== copy.name) define(copy, 'name', error.name);
  if (error.cause !== undefined) define(copy, 'cause', depth < 8 ? loggableError(error.cause, secrets, depth + 1) : String(error.cause));
  if (error instanceof AggregateError)
    define(
      copy,
      'errors',
      error.errors.map((each: unknown) => loggableError(each, secrets, depth + 1)),
    );
  return copy;
}

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false });
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
