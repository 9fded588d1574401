import { z } from 'zod';
import { consumerFactory, type ConsumerFactory } from '../catalog/defineConsumer.js';
import { OutboxError, parseOptions } from '../errors.js';
import { assertValidEventType, type EventDefinition, type EventPayloadInput } from '../catalog/defineEvent.js';
import { createEventCatalog, type EventCatalog } from '../catalog/eventCatalog.js';
import { insertOutboxMessages, type OutboxRow } from './insertOutboxMessages.js';
import { newMessageId } from './newMessageId.js';
import { validatePublishOptions, type PublishOptions } from './publishOptions.js';
import { serializePayload } from './serializePayload.js';
import { traceWrite } from '../tracing/tracing.js';
import { assertTransactionClient, type RawSqlClient, type TransactionClient, type TransactionClientArgument } from '../database/transactionClient.js';

export interface OutboxOptions<TEvents extends readonly EventDefinition[]> {
  /** The event catalog: every event this app publishes, from defineEvent(). */
  events: TEvents;
  /** Largest serialised payload accepted, in bytes. Default 262144 (256 KiB). */
  maxPayloadBytes?: number;
  /**
   * NOTIFY the relay at commit so it publishes at once instead of at its next poll.
   * Default false: every transaction that notifies takes a database-wide lock at
   * commit, which serialises committing transactions (see bench/notify.ts).
   */
  wakeRelay?: boolean;
}

const outboxOptionsSchema = z.strictObject({
  events: z.array(z.any()).readonly(),
  maxPayloadBytes: z
    .number()
    .int()
    .positive()
    .max(128 * 1024 * 1024)
    .default(256 * 1024),
  wakeRelay: z.boolean().default(false),
});

/** An event of the catalog, given as its definition or as its type name (then its latest version). */
export type EventRef<TEvents extends readonly EventDefinition[]> = TEvents[number] | TEvents[number]['type'];

/** The payload type of an event reference. */
export type PayloadOf<TEvents extends readonly EventDefinition[], E> = E extends EventDefinition
  ? EventPayloadInput<E>
  : E extends string
    ? EventPayloadInput<Extract<TEvents[number], { type: E }>>
    : never;

/** One message of publishMany(). */
export type OutboxMessageInput<TEvents extends readonly EventDefinition[]> = {
  [I in keyof TEvents]: TEvents[I] extends EventDefinition
    ? { event: TEvents[I] | TEvents[I]['type']; payload: EventPayloadInput<TEvents[I]> } & PublishOptions
    : never;
}[number];

export interface Outbox<TEvents extends readonly EventDefinition[]> {
  readonly catalog: EventCatalog<TEvents>;
  /**
   * Validates the payload against the event's schema and inserts one outbox row
   * through the transaction client: the message exists if and only if the
   * caller's transaction commits. Returns the message id (the AMQP message-id).
   */
  publish<TClient extends RawSqlClient, E extends EventRef<TEvents>>(
    tx: TransactionClientArgument<TClient>,
    event: E,
    payload: PayloadOf<TEvents, E>,
    options?: PublishOptions,
  ): Promise<string>;
  /**
   * Validates every message, then inserts them all with one statement. Nothing is
   * written when any message is invalid. Returns the ids in input order.
   */
  publishMany<TClient extends RawSqlClient>(tx: TransactionClientArgument<TClient>, messages: readonly OutboxMessageInput<TEvents>[]): Promise<string[]>;
  /**
   * `defineConsumer` bound to this catalog and your transaction client type, once
   * for the app: handlers then get `event` narrowed to the events their patterns
   * subscribe to, and `tx` typed.
   *
   *   export const defineConsumer = outbox.consumers<Prisma.TransactionClient>();
   *   defineConsumer({ name: 'send-welcome-email', events: ['user.signed-up'], async handle({ event, tx }) { event.payload.userId } });
   */
  consumers<TTx = TransactionClient>(): ConsumerFactory<TEvents, TTx>;
}

/** A message that passed validation, before it becomes a row. */
interface Validated {
  fields: Omit<OutboxRow, 'headers'>;
  headers: Record<string, string | number | boolean>;
}

export function createOutbox<const TEvents extends readonly EventDefinition[]>(options: OutboxOptions<TEvents>): Outbox<TEvents> {
  const { maxPayloadBytes, wakeRelay } = parseOptions(outboxOptionsSchema, options, 'createOutbox');
  const catalog = createEventCatalog(options.events);

  const validate = (event: EventDefinition | string, payload: unknown, publishOptions: PublishOptions | undefined): Validated => {
    if (typeof event === 'string') assertValidEventType(event);
    const definition = catalog.resolve(event);
    const parsed = definition.schema.safeParse(payload);
    if (!parsed.success) {
      throw OutboxError.fromZod('OUTBOX_INVALID_PAYLOAD', `event ${definition.type} (version ${definition.version}): invalid payload`, parsed.error);
    }
    const { orderingKey, headers, availableAt } = validatePublishOptions(definition.type, publishOptions);
    return {
      fields: {
        id: newMessageId(),
        eventType: definition.type,
        eventVersion: definition.version,
        orderingKey,
        payload: serializePayload(definition.type, parsed.data, maxPayloadBytes),
        availableAt,
      },
      headers,
    };
  };

  /**
   * The rows to insert, once every message is valid: the trace context travels with
   * each message (its outbox.publish span's, when the app traces).
   */
  const toRows = (messages: Validated[]) =>
    messages.map(({ fields, headers }) => {
      const traced = traceWrite(fields, headers.traceparent);
      if (traced) headers.traceparent = traced.traceparent;
      return { row: { ...fields, headers: JSON.stringify(headers) } satisfies OutboxRow, traced };
    });

  /** Inserts the rows, then ends their publish spans (with the insert's error if it failed). */
  const insert = async (tx: Parameters<typeof insertOutboxMessages>[0], written: ReturnType<typeof toRows>) => {
    let failure: unknown;
    try {
      await insertOutboxMessages(
        tx,
        written.map(({ row }) => row),
        wakeRelay,
      );
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      for (const { traced } of written) traced?.end(failure);
    }
  };

  return {
    catalog,
    consumers: () => consumerFactory(catalog),
    async publish(tx, event, payload, publishOptions) {
      assertTransactionClient(tx);
      const written = toRows([validate(event, payload, publishOptions)]);
      await insert(tx, written);
      return written[0]!.row.id;
    },
    async publishMany(tx, messages) {
      assertTransactionClient(tx);
      if (!Array.isArray(messages)) {
        throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'publishMany takes an array of { event, payload, ...options }');
      }
      if (messages.length === 0) return [];
      const validated = messages.map((message: unknown, index) => {
        if (typeof message !== 'object' || message === null) {
          throw new OutboxError('OUTBOX_INVALID_OPTIONS', `publishMany: message ${index} is not an object { event, payload, ...options }`);
        }
        const { event, payload, ...publishOptions } = message as OutboxMessageInput<TEvents>;
        return validate(event, payload, publishOptions);
      });
      const written = toRows(validated);
      await insert(tx, written);
      return written.map(({ row }) => row.id);
    },
  };
}
