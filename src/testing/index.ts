// prisma-rabbitmq-outbox/testing: a test kit for the apps that use the outbox (docs/testing.md).
// A second entry of the package: the main entry never loads it.
import type { EventDefinition } from '../catalog/defineEvent.js';
import { openHarnessCore, type TestHarnessOptions } from './harnessCore.js';
import type { InMemoryTestHarness, RabbitTestHarness, TestHarness } from './harnessTypes.js';
import { createInMemoryHarness } from './inMemoryHarness.js';
import { createRabbitHarness } from './rabbitHarness.js';

export type { HarnessConfig, TestHarnessOptions } from './harnessCore.js';
export type {
  CatalogEvent,
  CommittedEvent,
  DeadLetteredEvent,
  DeliveryOrder,
  DeliveryRecord,
  EventOf,
  FailNextOptions,
  HandledEvent,
  InMemoryTestHarness,
  ParkedEvent,
  RabbitTestHarness,
  TestHarness,
} from './harnessTypes.js';
export type { DeliveryOutcome } from '../consumers/deliveryStats.js';
export { InjectedFailure } from './faultPlan.js';
export { expectDeadLettered, expectHandled, expectNotPublished, expectPublished, matchesPayload, type CountOptions, type PayloadMatch } from './assertions.js';

/**
 * A harness over your outbox config. `mode: 'in-memory'`: no broker; your consumers run from
 * the committed outbox rows, with the real inbox, on the harness's clock. Otherwise (rabbitmq):
 * the library's relay and a worker for your consumers, in-process, on a private vhost.
 */
export function createTestHarness<const TEvents extends readonly EventDefinition[]>(
  options: TestHarnessOptions<TEvents> & { mode: 'in-memory' },
): Promise<InMemoryTestHarness<TEvents>>;
export function createTestHarness<const TEvents extends readonly EventDefinition[]>(
  options: TestHarnessOptions<TEvents> & { mode?: 'rabbitmq' },
): Promise<RabbitTestHarness<TEvents>>;
/** The mode chosen at run time (e.g. from an environment variable): the API both modes share. */
export function createTestHarness<const TEvents extends readonly EventDefinition[]>(options: TestHarnessOptions<TEvents>): Promise<TestHarness<TEvents>>;
export async function createTestHarness<const TEvents extends readonly EventDefinition[]>(options: TestHarnessOptions<TEvents>): Promise<TestHarness<TEvents>> {
  const core = await openHarnessCore(options);
  try {
    return core.settings.mode === 'in-memory' ? createInMemoryHarness(core) : await createRabbitHarness(core);
  } catch (error) {
    await core.close().catch(() => {});
    throw error;
  }
}
