// What a test sees of the pipeline, the same in both modes: the events the app
// committed, and what each consumer did with them, typed by the catalog.
import type { EventDefinition, EventPayload } from '../catalog/defineEvent.js';
import type { DeliveryOutcome } from '../consumers/deliveryStats.js';

/** An event the app committed to the outbox (since the harness started, or since reset()). */
export interface CommittedEvent<TType extends string = string, TVersion extends number = number, TPayload = unknown> {
  /** The message id (UUIDv7): the AMQP message-id, and every consumer's inbox key. */
  id: string;
  type: TType;
  version: TVersion;
  /** As stored, and as every consumer receives it. */
  payload: TPayload;
  orderingKey: string | null;
  correlationId: string | undefined;
  /** Your own headers (and traceparent), as published. */
  headers: Record<string, string | number | boolean>;
  createdAt: Date;
  /** pending: not relayed yet (or delayed); published: on the broker (or handed to the in-memory consumers); failed: the relay gave up. */
  status: 'pending' | 'published' | 'failed';
}

/** A committed event of one catalog definition, its payload typed by the definition's schema. */
export type EventOf<E extends EventDefinition> = CommittedEvent<E['type'], E['version'], EventPayload<E>>;

/** Any committed event of the catalog: narrow on `type` (and `version`) to type `payload`. */
export type CatalogEvent<TEvents extends readonly EventDefinition[]> = TEvents[number] extends infer E
  ? E extends EventDefinition
    ? EventOf<E>
    : never
  : never;

/** An event whose side effect the consumer did (its inbox row is done). */
export type HandledEvent<E> = E & {
  /** Deliveries that ran the handler, the successful one included. */
  attempts: number;
  doneAt: Date;
};
/** An event the consumer gave up on and dead-lettered. */
export type DeadLetteredEvent<E> = E & {
  attempts: number;
  /** The last failure, as the dead letter carries it. */
  error: string;
};
/** An ordered consumer's event waiting on its parked key: the one that failed for good (with its error), and the later ones of its key. */
export type ParkedEvent<E> = E & {
  attempts: number;
  /** The failure that parked the key, on the message that failed; null on the later ones. */
  error: string | null;
};

/** One delivery of one event to one consumer, as the harness saw it settle. */
export interface DeliveryRecord {
  consumer: string;
  messageId: string | undefined;
  eventType: string | undefined;
  outcome: DeliveryOutcome;
}

export interface FailNextOptions {
  /**
   * Run the handler, then fail: its transaction rolls back (its writes through `tx` with it),
   * but what it did outside the transaction (a provider call) stays done, as when a worker
   * dies before its commit. The redelivery runs the handler again with the same
   * `idempotencyKey`: what a handler's idempotency must survive. Default false: fail before
   * the handler runs.
   */
  afterHandler?: boolean;
  /** What to throw (e.g. a NonRetryableError, straight to the dead-letter queue). Default an InjectedFailure. */
  error?: Error | ((attempt: number) => Error);
  /** Only deliveries of this message. Default: whichever comes next. */
  messageId?: string;
}

/** The API both modes share. */
export interface TestHarness<TEvents extends readonly EventDefinition[] = readonly EventDefinition[]> {
  readonly mode: 'rabbitmq' | 'in-memory';
  /** The catalog's event definitions (what the views and assertions accept). */
  readonly events: TEvents;
  /**
   * Resolves once every event committed so far (and due) is published and every side effect
   * it owes a consumer of the harness is done, dead-lettered or parked. No sleeps: it watches
   * the pipeline settle. Rejects with OUTBOX_DRAIN_TIMEOUT, naming what is still owed, after
   * drainTimeoutMs.
   */
  drain(): Promise<void>;
  /** The events committed since start() or reset(), in write order; with a definition, only those, typed. */
  published(): Promise<CatalogEvent<TEvents>[]>;
  published<E extends TEvents[number]>(event: E): Promise<EventOf<E>[]>;
  /** The events whose side effect `consumer` did, in write order. */
  handled(consumer: string): Promise<HandledEvent<CatalogEvent<TEvents>>[]>;
  handled<E extends TEvents[number]>(consumer: string, event: E): Promise<HandledEvent<EventOf<E>>[]>;
  /** The events `consumer` gave up on and dead-lettered, in write order. */
  deadLetters(consumer: string): Promise<DeadLetteredEvent<CatalogEvent<TEvents>>[]>;
  /** An ordered consumer's events parked (with their key), in write order: `outbox parked retry|skip` territory. */
  parked(consumer: string): Promise<ParkedEvent<CatalogEvent<TEvents>>[]>;
  /** Every delivery the harness's consumers settled since start() or reset(), in order; with a name, that consumer's. */
  deliveries(consumer?: string): DeliveryRecord[];
  /**
   * Delivers a committed event to `consumer` once more, as a broker redelivery would, and
   * resolves with what that delivery did ('duplicate' when the inbox had it done already).
   */
  deliver(consumer: string, messageId: string): Promise<DeliveryOutcome>;
  /** The consumer's next `times` deliveries fail (before its handler runs, or after it: see options). */
  failNext(consumer: string, times: number, options?: FailNextOptions): void;
  /** Starts a new scope: published(), handled() and deliveries() forget what came before; pending failNext plans are dropped. */
  reset(): Promise<void>;
  /** Stops the consumers (and relay), and removes what the harness created. Idempotent. */
  stop(): Promise<void>;
}

/** The order the in-memory harness hands due deliveries to the consumers, each round. */
export type DeliveryOrder = 'written' | 'reverse' | 'shuffle';

export interface InMemoryTestHarness<TEvents extends readonly EventDefinition[] = readonly EventDefinition[]> extends TestHarness<TEvents> {
  readonly mode: 'in-memory';
  /**
   * As in the other mode, and the clock moves on by itself past every retry delay owed, so a
   * drain never waits in real time. `order` mixes up each round's deliveries to test handlers
   * against out-of-order arrival ('shuffle' with `seed` repeats the same order).
   */
  drain(options?: { order?: DeliveryOrder; seed?: number }): Promise<void>;
  /** Relays and delivers what is due now, without moving the clock: a retry waiting for its delay stays waiting. */
  runDue(options?: { order?: DeliveryOrder; seed?: number }): Promise<void>;
  /** The harness's clock: retry delays (and delayed events) are due by it, not by real time. */
  readonly clock: {
    /** Real time plus everything advanced so far. */
    now(): Date;
    /** Moves the clock on by `ms`, delivering what falls due on the way, in time order. */
    advance(ms: number): Promise<void>;
  };
}

export interface RabbitTestHarness<TEvents extends readonly EventDefinition[] = readonly EventDefinition[]> extends TestHarness<TEvents> {
  readonly mode: 'rabbitmq';
  /** The private vhost the harness's relay and worker use (deleted by stop()). */
  readonly vhost: string;
  /** The AMQP URL of that vhost, e.g. to look at its queues in a test. */
  readonly amqpUrl: string;
}
