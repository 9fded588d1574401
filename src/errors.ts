// One error class with stable codes: callers switch on `code`, never on message text.
import { z } from 'zod';

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
  /** No Prisma schema where --schema, prisma.config.ts or the conventional places point. */
  | 'OUTBOX_SCHEMA_NOT_FOUND'
  /** `outbox init` found something it must not overwrite (outbox models copied by hand, another provider). */
  | 'OUTBOX_INIT_CONFLICT'
  /** The database in DATABASE_URL (or the config's client) does not exist. */
  | 'OUTBOX_DATABASE_NOT_FOUND'
  /** PostgreSQL refused the user or password. */
  | 'OUTBOX_DATABASE_LOGIN_REFUSED'
  /** PostgreSQL does not answer at that host and port. */
  | 'OUTBOX_DATABASE_UNREACHABLE'
  /** The outbox tables do not exist: init and migrate first. */
  | 'OUTBOX_TABLES_MISSING'
  /** RabbitMQ refused the user or password. */
  | 'OUTBOX_BROKER_LOGIN_REFUSED'
  /** RabbitMQ refused the virtual host (missing, or no permissions on it). */
  | 'OUTBOX_BROKER_ACCESS_REFUSED'
  /** RabbitMQ does not answer at any of the AMQP_URL nodes. */
  | 'OUTBOX_BROKER_UNREACHABLE'
  /** A queue or exchange exists on the broker with other settings than the config declares. */
  | 'OUTBOX_TOPOLOGY_CONFLICT'
  /** A RabbitMQ plugin the config needs is not enabled (ordered consumers: rabbitmq_consistent_hash_exchange). */
  | 'OUTBOX_BROKER_PLUGIN_MISSING'
  /** `outbox parked`: the consumer is not ordered, or the key is not parked. */
  | 'OUTBOX_NOT_PARKED'
  /** Applying migrations failed; nothing after the failing migration was applied. */
  | 'OUTBOX_MIGRATION_FAILED'
  /** `outbox partitions enable` cannot partition the tables as they are (rows whose ids are not time-ordered). */
  | 'OUTBOX_PARTITIONING_REFUSED'
  /** `outbox partitions list|create-ahead` on tables that are not partitioned (`outbox partitions enable` first). */
  | 'OUTBOX_NOT_PARTITIONED'
  /** The test harness could not set itself up (its private RabbitMQ vhost, the outbox tables). */
  | 'OUTBOX_HARNESS_SETUP_FAILED'
  /** The test harness's drain() did not settle in time; the message lists what is still owed. */
  | 'OUTBOX_DRAIN_TIMEOUT';

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

  /** A zod failure as a typed error: `context` first (what was being validated), then every issue. */
  static fromZod(code: OutboxErrorCode, context: string, error: z.ZodError): OutboxError {
    return new OutboxError(code, `${context}: ${z.prettifyError(error)}`, { issues: zodIssues(error) });
  }
}

/** Every problem zod found, as plain paths and messages. */
export function zodIssues(error: z.ZodError): OutboxIssue[] {
  return error.issues.map((issue) => ({
    path: issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment))),
    message: issue.message,
  }));
}

/** `input` through `schema`, or OUTBOX_INVALID_OPTIONS naming `context` (e.g. "createRelay") and every issue. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, context: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw OutboxError.fromZod('OUTBOX_INVALID_OPTIONS', context, parsed.error);
  return parsed.data;
}

export function isOutboxError(error: unknown, code?: OutboxErrorCode): error is OutboxError {
  return error instanceof OutboxError && (code === undefined || error.code === code);
}
