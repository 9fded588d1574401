// What both modes of the harness share: the options, the app's consumers as the
// harness runs them (behind the fault plan), the scope of its views (an outbox seq),
// the deliveries it saw settle, and the views themselves.
import { pino } from 'pino';
import { z } from 'zod';
import { type ConsumerDefinition, type DeadLetter, type ParkedKey, type ResolvedConsumer } from '../catalog/defineConsumer.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import { createEventCatalog, type EventCatalog } from '../catalog/eventCatalog.js';
import { registerConsumers } from '../consumers/registerConsumers.js';
import { resolveConsumerSet } from '../consumers/resolveConsumerSet.js';
import { checkOutboxTables } from '../database/checkOutboxTables.js';
import { prismaQueryRows, type PrismaRootClient, type QueryRows } from '../database/sqlStore.js';
import { OutboxError, parseOptions } from '../errors.js';
import type { Logger } from '../logging/createLogger.js';
import { withTimeout } from '../timing/bounded.js';
import { claimDatabase, type DatabaseClaim } from './databaseClaim.js';
import { createFaultPlan } from './faultPlan.js';
import { committedEvents, eventsWithInbox, owedWork, readBaseline, readScope, type Owed } from './harnessRecords.js';
import type { DeliveryRecord, FailNextOptions, TestHarness } from './harnessTypes.js';

type AnyConsumer = ConsumerDefinition<readonly EventDefinition[], never>;

/** What the harness takes of an outbox.config.ts: the catalog (or the outbox), the consumers, the Prisma client. */
export type HarnessConfig<TEvents extends readonly EventDefinition[]> = {
  consumers: readonly AnyConsumer[];
  prisma: PrismaRootClient | (() => PrismaRootClient | Promise<PrismaRootClient>);
} & ({ events: TEvents; outbox?: never } | { outbox: { readonly catalog: { readonly events: TEvents } }; events?: never });

export interface TestHarnessOptions<TEvents extends readonly EventDefinition[]> {
  /** Your outbox.config.ts's default export, or an object of the same shape. */
  config: HarnessConfig<TEvents>;
  /**
   * "rabbitmq" (default): the library's relay and a worker, in-process, on a private vhost.
   * "in-memory": no broker; the consumers run from the committed outbox rows, one delivery at a
   * time, through the real inbox, retries on the harness's clock. It does not simulate the
   * broker's topology, concurrency, batching, redeliveries by itself, real time, the relay's
   * failures or the reconciler (docs/testing.md, "What in-memory mode does not simulate").
   */
  mode?: 'rabbitmq' | 'in-memory';
  /** The client to use instead of the config's (e.g. on a test database). */
  prisma?: PrismaRootClient;
  /** The consumers to run instead of the config's. */
  consumers?: readonly AnyConsumer[];
  /** Run only these of the consumers (by name); the others are not owed anything. */
  only?: readonly string[];
  /** Every consumer's retry delays instead of its own, in ms (e.g. [20] in rabbitmq mode, where they pass in real time). */
  retryDelays?: number[];
  /**
   * drain() gives up after this long, naming what is still owed; the set-up, too. Default 4000:
   * under your test runner's own timeout (5 s in vitest and jest), so that you see why. Raise
   * both together for slow handlers, or real retry delays in rabbitmq mode.
   */
  drainTimeoutMs?: number;
  /** Each delivery's transaction timeout. Default 30000. */
  transactionTimeoutMs?: number;
  /** rabbitmq mode: the broker (its vhost is not used: the harness makes its own). Default AMQP_URL, else amqp://guest:guest@127.0.0.1:5672. */
  amqpUrl?: string;
  /** rabbitmq mode: drain() re-reads the database at every relay batch and settled delivery, and at least this often. Default 1000. */
  drainRecheckMs?: number;
  /** Where the relay, the worker and the consumers' context loggers write. Default: nowhere (silent). */
  logger?: Logger;
  /** Called for every dead letter, after the consumer's own hook (as the worker's option). */
  onDeadLetter?(deadLetter: DeadLetter): void | Promise<void>;
  /** Called for every parked key, after the consumer's own hook. */
  onParked?(parked: ParkedKey): void | Promise<void>;
}

const optionsSchema = z.object({
  mode: z.enum(['rabbitmq', 'in-memory']).default('rabbitmq'),
  only: z.array(z.string()).optional(),
  retryDelays: z.array(z.number().int().min(1)).min(1).optional(),
  // Under vitest's and jest's 5 s test timeout, so that a drain that cannot settle says why.
  drainTimeoutMs: z.number().int().positive().default(4_000),
  transactionTimeoutMs: z.number().int().positive().default(30_000),
  amqpUrl: z.string().min(1).optional(),
  drainRecheckMs: z.number().int().positive().default(1_000),
});

export interface HarnessCore<TEvents extends readonly EventDefinition[]> {
  settings: z.output<typeof optionsSchema>;
  catalog: EventCatalog<TEvents>;
  prisma: PrismaRootClient;
  query: QueryRows;
  /** The definitions as the harness runs them (fault plan, retry delays), for the worker. */
  definitions: AnyConsumer[];
  /** The same, resolved (defaults applied), for the in-memory engine. */
  consumers: ResolvedConsumer[];
  logger: Logger;
  hooks: Pick<TestHarnessOptions<TEvents>, 'onDeadLetter' | 'onParked'>;
  /** Each settled delivery is recorded here (both modes). */
  record(delivery: DeliveryRecord): void;
  /** What is still owed in the harness's scope. */
  readOwed(): Promise<Owed>;
  /** The methods both modes share, as they are. */
  views: Pick<TestHarness<TEvents>, 'events' | 'published' | 'handled' | 'deadLetters' | 'parked' | 'deliveries' | 'failNext' | 'reset'>;
  /** Lets go of what the core opened (the Prisma client, when it made it from the config's factory). */
  close(): Promise<void>;
}

const eventsOf = <TEvents extends readonly EventDefinition[]>(config: HarnessConfig<TEvents>): TEvents =>
  config.outbox ? config.outbox.catalog.events : config.events;

export async function openHarnessCore<TEvents extends readonly EventDefinition[]>(options: TestHarnessOptions<TEvents>): Promise<HarnessCore<TEvents>> {
  const { config } = options;
  if (typeof config !== 'object' || config === null)
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'createTestHarness: config is required (your outbox.config.ts)');
  const settings = parseOptions(optionsSchema, options, 'createTestHarness');
  const catalog = createEventCatalog(eventsOf(config));
  const faults = createFaultPlan();

  let chosen = [...(options.consumers ?? config.consumers)];
  if (settings.only) {
    const names = chosen.map((consumer) => consumer.name);
    const unknown = settings.only.filter((name) => !names.includes(name));
    if (unknown.length > 0)
      throw new OutboxError('OUTBOX_INVALID_OPTIONS', `createTestHarness: only names no such consumer: ${unknown.join(', ')} (there are ${names.join(', ')})`);
    chosen = chosen.filter((consumer) => settings.only!.includes(consumer.name));
  }
  const definitions = chosen.map((consumer) => faults.wrap(settings.retryDelays ? { ...consumer, retryDelays: settings.retryDelays } : consumer));
  const consumers = resolveConsumerSet(definitions, catalog);
  const names = consumers.map((consumer) => consumer.name);

  const ownsPrisma = !options.prisma && typeof config.prisma === 'function';
  const prisma = options.prisma ?? (typeof config.prisma === 'function' ? await config.prisma() : config.prisma);
  let claim: DatabaseClaim | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await claim?.release();
      if (ownsPrisma) await (prisma as Partial<{ $disconnect(): Promise<void> }>).$disconnect?.();
    })());
  const query = prismaQueryRows(prisma);
  try {
    await checkOutboxTables(query);
    claim = await claimDatabase(prisma);
    // The claim holds one connection of the client's pool until stop(): a pool of one has none left.
    const poolHint = `the test harness holds one connection of your Prisma client's pool while it runs, and no other came within ${settings.drainTimeoutMs} ms (is the pool's max 1?)`;
    await withTimeout(registerConsumers(query, names), settings.drainTimeoutMs, poolHint).catch((error: unknown) => {
      throw error instanceof Error && error.message === poolHint ? new OutboxError('OUTBOX_HARNESS_SETUP_FAILED', poolHint) : error;
    });
  } catch (error) {
    await close();
    throw error;
  }

  let baseline = await readBaseline(query);
  let deliveries: DeliveryRecord[] = [];
  let stopped = false;
  const ensureRunning = () => {
    if (stopped) throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'the test harness is stopped');
  };
  /** A view of one consumer: a name the harness does not run is a typo, not an empty answer. */
  const scopeOf = async (consumer: string, what: string) => {
    if (!names.includes(consumer)) {
      throw new OutboxError('OUTBOX_INVALID_OPTIONS', `${what}: ${JSON.stringify(consumer)} is not one of the harness's consumers (${names.join(', ')})`);
    }
    return scope();
  };
  const scope = () => {
    ensureRunning();
    return readScope(query, baseline, names);
  };

  const views: HarnessCore<TEvents>['views'] = {
    events: catalog.events,
    published: (async (event?: EventDefinition) => committedEvents(await scope(), event)) as TestHarness<TEvents>['published'],
    handled: (async (consumer: string, event?: EventDefinition) =>
      eventsWithInbox(await scopeOf(consumer, 'handled'), consumer, 'done', event).map(({ event: handled, inbox }) => ({
        ...handled,
        attempts: inbox.attempts,
        doneAt: inbox.doneAt!,
      }))) as TestHarness<TEvents>['handled'],
    deadLetters: (async (consumer: string) =>
      eventsWithInbox(await scopeOf(consumer, 'deadLetters'), consumer, 'dead').map(({ event, inbox }) => ({
        ...event,
        attempts: inbox.attempts,
        error: inbox.lastError ?? '',
      }))) as TestHarness<TEvents>['deadLetters'],
    parked: (async (consumer: string) =>
      eventsWithInbox(await scopeOf(consumer, 'parked'), consumer, 'parked').map(({ event, inbox }) => ({
        ...event,
        attempts: inbox.attempts,
        error: inbox.lastError,
      }))) as TestHarness<TEvents>['parked'],
    deliveries(consumer) {
      if (consumer !== undefined && !names.includes(consumer)) {
        throw new OutboxError('OUTBOX_INVALID_OPTIONS', `deliveries: ${JSON.stringify(consumer)} is not one of the harness's consumers (${names.join(', ')})`);
      }
      return deliveries.filter((delivery) => consumer === undefined || delivery.consumer === consumer);
    },
    failNext: (consumer, times, failOptions?: FailNextOptions) => faults.failNext(consumer, times, names, failOptions),
    async reset() {
      ensureRunning();
      baseline = await readBaseline(query);
      deliveries = [];
      faults.clear();
    },
  };

  return {
    settings,
    catalog: catalog,
    prisma,
    query,
    definitions,
    consumers,
    logger: options.logger ?? pino({ level: 'silent' }),
    hooks: { onDeadLetter: options.onDeadLetter, onParked: options.onParked },
    record: (delivery) => deliveries.push(delivery),
    readOwed: async () => owedWork(await readScope(query, baseline, names), consumers),
    views,
    close() {
      stopped = true;
      return close();
    },
  };
}
