import type { Logger } from 'pino';
import { z } from 'zod';
import { OutboxError } from '../errors.js';
import type { EventDefinition } from './defineEvent.js';
import type { EventCatalog } from './eventCatalog.js';
import type { TransactionClient } from '../database/transactionClient.js';
import { isValidTopicPattern, matchesTopic, type MatchesTopic } from './topicPattern.js';

/**
 * The catalog's definitions, every version of each type, that one of the topic
 * patterns matches. With the wide `readonly string[]` (patterns unknown until run
 * time) or a catalog typed only as `EventDefinition[]`, every definition.
 */
export type SubscribedEvents<TEvents extends readonly EventDefinition[], TPatterns extends readonly string[]> = TEvents[number] extends infer E
  ? E extends EventDefinition
    ? true extends MatchesTopic<TPatterns[number], E['type']>
      ? E
      : never
    : never
  : never;

/**
 * A received event, decoded and validated against the catalog: a union over the
 * (type, version) pairs the patterns subscribe to, so `event.type` and
 * `event.version` narrow `event.payload`.
 */
export type ReceivedEvent<TEvents extends readonly EventDefinition[] = readonly EventDefinition[], TPatterns extends readonly string[] = readonly string[]> =
  SubscribedEvents<TEvents, TPatterns> extends infer E
    ? E extends EventDefinition
      ? { type: E['type']; version: E['version']; payload: z.output<E['schema']> }
      : never
    : never;

/** The patterns, each one that matches no event of the catalog replaced by a message saying so. */
export type CheckedPatterns<TEvents extends readonly EventDefinition[], TPatterns> = {
  readonly [K in keyof TPatterns]: [SubscribedEvents<TEvents, [TPatterns[K] & string]>] extends [never]
    ? `pattern "${TPatterns[K] & string}" matches no event of the catalog`
    : TPatterns[K];
};

export interface HandlerContext<TEvents extends readonly EventDefinition[], TTx, TPatterns extends readonly string[] = readonly string[]> {
  /** One of the events the consumer subscribes to: switch on `event.type` (and `event.version`) to narrow `event.payload`. */
  event: ReceivedEvent<TEvents, TPatterns>;
  /** The transaction the inbox row is written in: write your side effects through it. */
  tx: TTx;
  messageId: string;
  /** 1 on the first delivery, then 2, 3... through the retry delays. */
  attempt: number;
  /** Stable across redeliveries and retries: hand it to external APIs that deduplicate (email, payments). */
  idempotencyKey: string;
  correlationId: string | undefined;
  /** Scoped with messageId, eventType and consumer. */
  logger: Logger;
}

/**
 * The context of a handler wrapped in `outsideTransaction`: no transaction is open while it
 * runs. Call the slow provider with `idempotencyKey`, then `complete(tx => ...)` to write what
 * it returned.
 */
export type OutsideTransactionContext<TContext extends HandlerContext<readonly EventDefinition[], unknown, readonly string[]>> = Omit<TContext, 'tx'> & {
  /**
   * Runs `work` in a short transaction that also marks the message done, and commits. Call it
   * once, after the external call succeeded; if the handler returns without calling it, the
   * worker marks the message done alone. If another delivery of the message completed it
   * first, `work` is not run and it resolves false.
   */
  complete(work?: (tx: TContext['tx']) => Promise<void>): Promise<boolean>;
};

const OUTSIDE_TRANSACTION = Symbol('outbox.outsideTransaction');

/** A handler that runs outside any transaction (see `outsideTransaction`). */
export type OutsideTransactionHandler = ((context: HandlerContext<readonly EventDefinition[], unknown>) => Promise<void>) & {
  [OUTSIDE_TRANSACTION]: (context: OutsideTransactionContext<HandlerContext<readonly EventDefinition[], unknown>>) => Promise<void>;
};

/**
 * For a slow external call: `handle: outsideTransaction(async ({ event, idempotencyKey, complete }) => ...)`
 * runs the handler outside any transaction, so no database connection waits on the provider
 * (docs/consumers.md, "Slow external calls"). The worker records the attempt first (one short
 * statement), runs the handler, and `complete()` records the message done with your writes in
 * a second short transaction. A crash between the call and `complete()` repeats the call: hand
 * the provider `idempotencyKey`. Not for ordered or batched consumers.
 * Called directly (a unit test with a `tx`), the wrapped handler runs `complete`'s work in that `tx`.
 */
export function outsideTransaction<TContext extends HandlerContext<readonly EventDefinition[], unknown, readonly string[]>>(
  handler: (context: OutsideTransactionContext<TContext>) => Promise<void>,
): (context: TContext) => Promise<void> {
  const direct = async (context: TContext) => {
    const { tx, ...rest } = context;
    const complete = async (work?: (tx: TContext['tx']) => Promise<void>) => {
      await work?.(tx);
      return true;
    };
    await handler({ ...rest, complete });
  };
  return Object.assign(direct, { [OUTSIDE_TRANSACTION]: handler });
}

/** The handler to run outside a transaction, if `handle` was wrapped in `outsideTransaction`. */
export function outsideTransactionHandler(
  handle: unknown,
): ((context: OutsideTransactionContext<HandlerContext<readonly EventDefinition[], unknown>>) => Promise<void>) | undefined {
  return typeof handle === 'function' ? (handle as Partial<OutsideTransactionHandler>)[OUTSIDE_TRANSACTION] : undefined;
}

export interface DeadLetter {
  consumer: string;
  messageId: string | undefined;
  eventType: string | undefined;
  attempts: number;
  reason: 'handler-failed' | 'non-retryable' | 'malformed';
  error: string;
}

/** An ordering key of an ordered consumer, parked after one of its messages failed for good. */
export interface ParkedKey {
  consumer: string;
  orderingKey: string;
  /** The message that failed; it and every later message of the key wait for `outbox parked retry|skip`. */
  messageId: string;
  eventType: string;
  attempts: number;
  reason: 'handler-failed' | 'non-retryable';
  error: string;
}

export interface ConsumerDefinition<
  TEvents extends readonly EventDefinition[] = readonly EventDefinition[],
  TTx = TransactionClient,
  TPatterns extends readonly string[] = readonly string[],
> {
  /** The side effect's name: its queue's name too, e.g. "send-welcome-email". */
  name: string;
  /** Topic patterns over event types, e.g. ["order.placed", "user.*"]: "*" is one word, "#" zero or more. */
  events: TPatterns;
  handle(context: HandlerContext<TEvents, TTx, TPatterns>): Promise<void>;
  /** Deliveries in all (first + retries) before the dead-letter queue. Default 5. */
  maxAttempts?: number;
  /** Wait before retry 1, 2, ... (the last repeats), in ms. Default [1000, 10000, 60000, 600000]. */
  retryDelays?: number[];
  /** Unacknowledged deliveries the broker sends ahead. Default 20 (at least `concurrency`). */
  prefetch?: number;
  /** Handlers running at once for this consumer. Default 1. */
  concurrency?: number;
  /**
   * Up to this many waiting deliveries handled in one database transaction (docs/consumers.md,
   * "Batching"): one inbox write and one commit for the group, the handlers one after another
   * on the same `tx`. A failure rolls the group back and its deliveries run one by one, so a
   * poison message fails alone. Not for ordered consumers. Default 1 (no batching).
   */
  batchSize?: number;
  /** "quorum" (replicated, with a crash-loop delivery limit; default) or "classic". */
  queueType?: 'quorum' | 'classic';
  /** Quorum queues: deliveries of one message without an ack (process crashes) before it is dead-lettered. Default 5. */
  deliveryLimit?: number;
  /** Called once per dead-lettered message, for alerting. Errors it throws are logged, not raised. */
  onDeadLetter?(deadLetter: DeadLetter): void | Promise<void>;
  /**
   * Per-key order (docs/ordered-consumers.md): the handler sees each ordering key's
   * events one at a time, in write order, across any number of workers; keys run in
   * parallel; a failed attempt is retried in place (its key's later messages wait in
   * the worker) and a message that fails for good parks its key instead of being
   * dead-lettered. Events without a key are unordered. Needs RabbitMQ's
   * rabbitmq_consistent_hash_exchange plugin. Default false.
   */
  ordered?: boolean;
  /** Ordered consumers: partition queues ("<name>.p00"...), each consumed by one worker at a time. Default 16. */
  partitions?: number;
  /** Ordered consumers: called once per parked key, for alerting. Errors it throws are logged, not raised. */
  onParked?(parked: ParkedKey): void | Promise<void>;
}

const NAME = /^[a-z0-9][a-z0-9_-]*$/;

const consumerSchema = z
  .object({
    name: z.string().max(200).regex(NAME, 'lower-case letters, digits, "-" and "_" (it names queues)'),
    events: z.array(z.string().refine(isValidTopicPattern, 'a topic pattern: words of [a-z0-9_-], "*" or "#", separated by dots')).min(1),
    handle: z.custom<(context: unknown) => Promise<void>>((value) => typeof value === 'function', 'a function'),
    maxAttempts: z.number().int().min(1).max(100).default(5),
    retryDelays: z
      .array(
        z
          .number()
          .int()
          .min(1)
          .max(24 * 3600 * 1000),
      )
      .min(1)
      .default([1000, 10_000, 60_000, 600_000]),
    prefetch: z.number().int().min(1).max(10_000).default(20),
    concurrency: z.number().int().min(1).max(1000).default(1),
    batchSize: z.number().int().min(1).max(1000).default(1),
    queueType: z.enum(['quorum', 'classic']).default('quorum'),
    deliveryLimit: z.number().int().min(1).max(1000).default(5),
    onDeadLetter: z.custom<(deadLetter: DeadLetter) => void | Promise<void>>((value) => typeof value === 'function').optional(),
    ordered: z.boolean().default(false),
    partitions: z.number().int().min(1).max(256).default(16),
    onParked: z.custom<(parked: ParkedKey) => void | Promise<void>>((value) => typeof value === 'function').optional(),
  })
  .refine((consumer) => !(outsideTransactionHandler(consumer.handle) && (consumer.ordered || consumer.batchSize > 1)), {
    message: 'a handler outside the transaction (outsideTransaction) is not available for ordered or batched consumers',
    path: ['handle'],
  })
  .refine((consumer) => !(consumer.ordered && consumer.batchSize > 1), {
    message: "batchSize is not available for ordered consumers (a key's messages are handled one at a time)",
    path: ['batchSize'],
  });

export type ResolvedConsumer = Omit<z.output<typeof consumerSchema>, 'handle'> & {
  handle(context: HandlerContext<readonly EventDefinition[], unknown>): Promise<void>;
};

/**
 * Declares a side effect. Prefer the factory bound once to your catalog and
 * transaction client, `outbox.consumers<Prisma.TransactionClient>()`; this form
 * takes both types on every call:
 *
 *   defineConsumer<typeof events, Prisma.TransactionClient>({ name: 'send-welcome-email', events: ['user.signed-up'], handle })
 */
export function defineConsumer<
  const TEvents extends readonly EventDefinition[] = readonly EventDefinition[],
  TTx = TransactionClient,
  const TPatterns extends readonly string[] = readonly string[],
>(definition: ConsumerDefinition<TEvents, TTx, TPatterns>): ConsumerDefinition<TEvents, TTx, TPatterns> {
  resolveConsumer(definition);
  return definition;
}

/**
 * `defineConsumer` bound to a catalog and a transaction client type: `events` is
 * read as literal patterns, `event` in the handler is the union of the catalog's
 * events they match, and a pattern that matches none does not compile.
 */
export type ConsumerFactory<TEvents extends readonly EventDefinition[], TTx> = <
  const TPatterns extends readonly string[] & CheckedPatterns<TEvents, TPatterns>,
>(
  definition: ConsumerDefinition<TEvents, TTx, TPatterns>,
) => ConsumerDefinition<TEvents, TTx, TPatterns>;

/** The factory behind `outbox.consumers()`: validates each definition, and its patterns against the catalog, when it is made. */
export function consumerFactory<TEvents extends readonly EventDefinition[], TTx>(catalog: EventCatalog<TEvents>): ConsumerFactory<TEvents, TTx> {
  return (definition) => {
    assertPatternsMatch(resolveConsumer(definition), catalog);
    return definition;
  };
}

/** Every pattern of the consumer matches an event type of the catalog: a typo would bind a queue that never receives anything. */
export function assertPatternsMatch(consumer: ResolvedConsumer, catalog: EventCatalog): void {
  for (const pattern of consumer.events) {
    if (!catalog.types.some((type) => matchesTopic(pattern, type))) {
      throw new OutboxError(
        'OUTBOX_INVALID_CONSUMER',
        `consumer ${consumer.name}: pattern ${JSON.stringify(pattern)} matches no event of the catalog (${catalog.types.join(', ')})`,
      );
    }
  }
}

export function resolveConsumer(definition: unknown): ResolvedConsumer {
  const parsed = consumerSchema.safeParse(definition);
  if (!parsed.success) {
    const name = (definition as { name?: unknown } | null)?.name;
    throw OutboxError.fromZod('OUTBOX_INVALID_CONSUMER', `consumer ${JSON.stringify(name)}`, parsed.error);
  }
  const resolved = parsed.data as ResolvedConsumer;
  // Enough deliveries ahead for every slot to gather a whole group.
  resolved.prefetch = Math.max(resolved.prefetch, resolved.concurrency * resolved.batchSize);
  return resolved;
}
