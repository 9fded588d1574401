// Assertions over a harness that read well in any test runner: they throw node's
// AssertionError (vitest and jest show its actual/expected), and return what matched.
import { AssertionError } from 'node:assert';
import type { EventDefinition, EventPayload } from '../catalog/defineEvent.js';
import type { CommittedEvent, DeadLetteredEvent, EventOf, HandledEvent, TestHarness } from './harnessTypes.js';

/** Any part of a payload: objects match on the keys given; arrays have the same length, each item matched the same way; values exactly. */
export type PayloadMatch<T> = T extends readonly (infer Item)[]
  ? readonly PayloadMatch<Item>[]
  : T extends object
    ? { [K in keyof T]?: PayloadMatch<T[K]> }
    : T;

export interface CountOptions {
  /** How many matching events there must be. Default: at least one. */
  times?: number;
}

/** What the assertions read of a harness: either mode's. Its catalog (`events`) types the events they take. */
type Views<TEvents extends readonly EventDefinition[]> = Pick<TestHarness<TEvents>, 'events' | 'published' | 'handled' | 'deadLetters'>;

/** The harness as the assertions read it: events of any definition (the signatures keep the types). */
const untyped = <TEvents extends readonly EventDefinition[]>(harness: Views<TEvents>) => harness as unknown as Views<readonly EventDefinition[]>;

/** `actual` matches `expected` on every key `expected` names, recursively; arrays item by item. */
export function matchesPayload(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((item, index) => matchesPayload(actual[index], item));
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return false;
    return Object.entries(expected).every(([key, value]) => matchesPayload((actual as Record<string, unknown>)[key], value));
  }
  return Object.is(actual, expected);
}

const describe = (definition: EventDefinition, payload: unknown) =>
  `${definition.type} (version ${definition.version})${payload === undefined ? '' : ` with a payload matching ${JSON.stringify(payload)}`}`;
const times = (count: number) => (count === 1 ? 'once' : `${count} times`);
const listed = (events: readonly CommittedEvent[]) =>
  events.length === 0 ? 'none' : events.map((event) => `\n  ${event.type} v${event.version} ${JSON.stringify(event.payload)}`).join('');

const enough = (matching: readonly unknown[], options: CountOptions) => (options.times === undefined ? matching.length > 0 : matching.length === options.times);

function check<T extends CommittedEvent>(
  operator: string,
  what: string,
  all: readonly T[],
  matching: T[],
  options: CountOptions,
  payload: unknown,
  hint = '',
): T[] {
  if (!enough(matching, options)) {
    const wanted = options.times === undefined ? 'at least once' : times(options.times);
    throw new AssertionError({
      message: `expected ${what} ${wanted}, found ${times(matching.length)}${hint}; there were: ${listed(all)}`,
      actual: all.map((event) => event.payload),
      expected: payload,
      operator,
    });
  }
  return matching;
}

/** The events of `definition` whose payload matches `payload` (all of them without one). */
const matchingEvents = <T extends CommittedEvent>(events: readonly T[], definition: EventDefinition, payload: unknown): T[] =>
  events.filter(
    (each) => each.type === definition.type && each.version === definition.version && (payload === undefined || matchesPayload(each.payload, payload)),
  );

/**
 * A consumer's handled or dead-lettered events checked against the count; when it falls short
 * while more matching events were published, the message says the likely reason.
 */
async function expectSettled<T extends CommittedEvent>(
  operator: string,
  what: string,
  harness: Views<readonly EventDefinition[]>,
  consumer: string,
  all: readonly T[],
  event: EventDefinition,
  payload: unknown,
  options: CountOptions,
): Promise<T[]> {
  const matching = matchingEvents(all, event, payload);
  let hint = '';
  if (!enough(matching, options)) {
    const published = matchingEvents(await harness.published(), event, payload).length;
    if (published > matching.length)
      hint = ` (${published} matching event(s) were published: drain() first, or see deliveries('${consumer}') for what became of them)`;
  }
  return check(operator, `${consumer} to have ${what} ${describe(event, payload)}`, all, matching, options, payload, hint);
}

/** The app committed this event (with a payload matching `payload`): returns the matches, typed. */
export async function expectPublished<TEvents extends readonly EventDefinition[], E extends TEvents[number]>(
  harness: Views<TEvents>,
  event: E,
  payload?: PayloadMatch<EventPayload<E>>,
  options: CountOptions = {},
): Promise<EventOf<E>[]> {
  const all = await untyped(harness).published();
  return check('expectPublished', `${describe(event, payload)} to be published`, all, matchingEvents(all, event, payload), options, payload) as EventOf<E>[];
}

/** The app committed no such event. */
export async function expectNotPublished<TEvents extends readonly EventDefinition[], E extends TEvents[number]>(
  harness: Views<TEvents>,
  event: E,
  payload?: PayloadMatch<EventPayload<E>>,
): Promise<void> {
  const matching = matchingEvents(await untyped(harness).published(), event, payload);
  if (matching.length > 0) {
    throw new AssertionError({
      message: `expected ${describe(event, payload)} not to be published, found ${times(matching.length)}:${listed(matching)}`,
      actual: matching.map((each) => each.payload),
      expected: payload,
      operator: 'expectNotPublished',
    });
  }
}

/** `consumer` did its side effect for this event (done in its inbox): returns the matches with their attempts. */
export async function expectHandled<TEvents extends readonly EventDefinition[], E extends TEvents[number]>(
  harness: Views<TEvents>,
  consumer: string,
  event: E,
  payload?: PayloadMatch<EventPayload<E>>,
  options: CountOptions = {},
): Promise<HandledEvent<EventOf<E>>[]> {
  const views = untyped(harness);
  const all = await views.handled(consumer);
  return (await expectSettled('expectHandled', 'handled', views, consumer, all, event, payload, options)) as unknown as HandledEvent<EventOf<E>>[];
}

/** `consumer` gave up on this event (dead-lettered): returns the matches with attempts and error. */
export async function expectDeadLettered<TEvents extends readonly EventDefinition[], E extends TEvents[number]>(
  harness: Views<TEvents>,
  consumer: string,
  event: E,
  payload?: PayloadMatch<EventPayload<E>>,
  options: CountOptions = {},
): Promise<DeadLetteredEvent<EventOf<E>>[]> {
  const views = untyped(harness);
  const all = await views.deadLetters(consumer);
  return (await expectSettled('expectDeadLettered', 'dead-lettered', views, consumer, all, event, payload, options)) as unknown as DeadLetteredEvent<
    EventOf<E>
  >[];
}
