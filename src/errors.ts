// One error class with stable codes: callers switch on `code`, never on message text.

export type OutboxErrorCode =
  /** publish() was handed the root client instead of an interactive-transaction client. */
  | 'OUTBOX_NOT_IN_TRANSACTION'
  /** The event (or event type) is not in the outbox's catalog. */
  | 'OUTBOX_UNKNOWN_EVENT'
  /** An event type that is not a valid routing key: lower-case words of [a-z0-9_-] separated by dots. */
  | 'OUTBOX_INVALID_EVENT_TYPE'
  /** Two catalog entries share a type and version, or a definition is malformed. */
  | 'OUTBOX_INVALID_CATALOG'
  /** The payload fails the event's zod schema; `issues` lists why. */
  | 'OUTBOX_INVALID_PAYLOAD'
  /** The payload holds something JSON cannot carry faithfully (BigInt, a cycle, a function, NaN, a Map...). */
  | 'OUTBOX_PAYLOAD_NOT_SERIALIZABLE'
  /** The serialised payload is larger than maxPayloadBytes. */
  | 'OUTBOX_PAYLOAD_TOO_LARGE'
  /** Publish options (key, headers, correlationId, availableAt) or outbox options are invalid. */
  | 'OUTBOX_INVALID_OPTIONS'
  /** The database rejected the outbox write (e.g. the outbox tables are missing: migrate first). */
  | 'OUTBOX_WRITE_FAILED'
  /** A consumer definition is invalid, or one of its patterns matches no catalog event. */
  | 'OUTBOX_INVALID_CONSUMER'
  /** A configuration value (e.g. DATABASE_URL) is missing or malformed. */
  | 'OUTBOX_INVALID_CONFIG'
  /** No config file where --config points, or none in the working directory. */
  | 'OUTBOX_CONFIG_NOT_FOUND'
  /** Applying migrations failed; nothing after the failing migration was applied. */
  | 'OUTBOX_MIGRATION_FAILED';

export interface OutboxIssue {
  path: (string | number)[];
  message: string;
}

export class OutboxError extends Error {
  override readonly name = 'OutboxError';
  readonly code: OutboxErrorCode;
  /** For OUTBOX_INVALID_PAYLOAD and OUTBOX_INVALID_OPTIONS: every problem found, not only the first. */
  readonly issues: OutboxIssue[];

  constructor(code: OutboxErrorCode, message: string, options: { issues?: OutboxIssue[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.issues = options.issues ?? [];
  }
}

export function isOutboxError(error: unknown, code?: OutboxErrorCode): error is OutboxError {
  return error instanceof OutboxError && (code === undefined || error.code === code);
}
