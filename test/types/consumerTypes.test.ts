// What the compiler says about consumers and publish. `npm run typecheck` (tsc
// over src and test) enforces this file: an `expectTypeOf` that does not hold, or a
// `@ts-expect-error` line that compiles, fails it. The few runtime assertions
// check that what does not compile is refused at run time too.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import {
  createOutbox,
  createWorker,
  defineConfig,
  defineConsumer,
  defineEvent,
  outboxExtension,
  outsideTransaction,
  type ConsumerDefinition,
  type EventDefinition,
  type RootClientRefused,
} from '../../src/index.js';
import { testEvents } from '../support/events.js';

const outbox = createOutbox({ events: testEvents });
// The one place an app names its transaction client.
const consumer = outbox.consumers<Prisma.TransactionClient>();

const noop = async () => {};

type OrderPlaced = { type: 'order.placed'; version: 1; payload: { orderId: string; totalCents: number } };
type UserSignedUpV1 = { type: 'user.signed-up'; version: 1; payload: { userId: string } };
type UserSignedUpV2 = { type: 'user.signed-up'; version: 2; payload: { userId: string; plan: 'free' | 'pro' } };
type Anything = { type: 'test.anything'; version: 1; payload: unknown };

describe('a consumer from outbox.consumers<Tx>()', () => {
  it('sees exactly the event it subscribes to, with the zod output payload', () => {
    const placed = consumer({
      name: 'exact',
      events: ['order.placed'],
      async handle({ event, tx }) {
        expectTypeOf(event).toEqualTypeOf<OrderPlaced>();
        expectTypeOf(tx).toEqualTypeOf<Prisma.TransactionClient>();
        // @ts-expect-error: order.placed has no userId
        expectTypeOf(event.payload.userId).toBeString();
      },
    });
    expectTypeOf(placed.events).toEqualTypeOf<readonly ['order.placed']>();
    expect(placed.events).toEqual(['order.placed']);
  });

  it("outsideTransaction keeps the event typed, has no tx, and types complete()'s tx", () => {
    consumer({
      name: 'outside',
      events: ['order.placed', 'user.signed-up'],
      handle: outsideTransaction(async (context) => {
        expectTypeOf(context.event).toEqualTypeOf<OrderPlaced | UserSignedUpV1 | UserSignedUpV2>();
        expectTypeOf(context.idempotencyKey).toBeString();
        // @ts-expect-error: no transaction is open outside
        expectTypeOf(context.tx).toBeObject();
        const completed = await context.complete(async (tx) => {
          expectTypeOf(tx).toEqualTypeOf<Prisma.TransactionClient>();
        });
        expectTypeOf(completed).toEqualTypeOf<boolean>();
      }),
    });
  });

  it('sees every version of a type, told apart by event.version', () => {
    consumer({
      name: 'versions',
      events: ['user.signed-up'],
      async handle({ event }) {
        expectTypeOf(event).toEqualTypeOf<UserSignedUpV1 | UserSignedUpV2>();
        // @ts-expect-error: version 1 has no plan
        expectTypeOf(event.payload.plan).toEqualTypeOf<'free' | 'pro'>();
        if (event.version === 2) expectTypeOf(event.payload.plan).toEqualTypeOf<'free' | 'pro'>();
      },
    });
  });

  it('computes wildcard patterns at the type level: * one word, # zero or more', () => {
    consumer({
      name: 'star',
      events: ['user.*'],
      async handle({ event }) {
        expectTypeOf(event).toEqualTypeOf<UserSignedUpV1 | UserSignedUpV2>();
      },
    });
    consumer({
      name: 'star-first',
      events: ['*.placed'],
      async handle({ event }) {
        expectTypeOf(event).toEqualTypeOf<OrderPlaced>();
      },
    });
    consumer({
      name: 'hash-all',
      events: ['#'],
      async handle({ event }) {
        expectTypeOf(event).toEqualTypeOf<OrderPlaced | UserSignedUpV1 | UserSignedUpV2 | Anything>();
      },
    });
    consumer({
      name: 'hash-tail',
      events: ['order.#'],
      async handle({ event }) {
        expectTypeOf(event).toEqualTypeOf<OrderPlaced>();
      },
    });
    consumer({
      name: 'hash-zero-words',
      events: ['order.placed.#', '#.anything'],
      async handle({ event }) {
        expectTypeOf(event).toEqualTypeOf<OrderPlaced | Anything>();
      },
    });
    consumer({
      name: 'several',
      events: ['order.placed', 'user.#'],
      async handle({ event }) {
        expectTypeOf(event).toEqualTypeOf<OrderPlaced | UserSignedUpV1 | UserSignedUpV2>();
        if (event.type === 'order.placed') expectTypeOf(event.payload.totalCents).toBeNumber();
        else expectTypeOf(event.payload.userId).toBeString();
      },
    });
  });

  it('matches words, not characters: * is never part of a word, and never zero words', () => {
    const deep = defineEvent('a.b.c', z.object({ deep: z.boolean() }));
    const shallow = defineEvent('a.b', z.object({ shallow: z.boolean() }));
    const words = createOutbox({ events: [deep, shallow] }).consumers();
    words({
      name: 'one-word',
      events: ['a.*'],
      async handle({ event }) {
        expectTypeOf(event.type).toEqualTypeOf<'a.b'>();
      },
    });
    words({
      name: 'two-words',
      events: ['a.*.*'],
      async handle({ event }) {
        expectTypeOf(event.type).toEqualTypeOf<'a.b.c'>();
      },
    });
    words({
      name: 'any-words',
      events: ['a.#'],
      async handle({ event }) {
        expectTypeOf(event.type).toEqualTypeOf<'a.b' | 'a.b.c'>();
      },
    });
    words({
      name: 'middle',
      events: ['a.#.c'],
      async handle({ event }) {
        expectTypeOf(event.type).toEqualTypeOf<'a.b.c'>();
      },
    });
    expect(() =>
      // @ts-expect-error: "a" is a word of both types, not a type
      words({ name: 'prefix', events: ['a'], handle: noop }),
    ).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_CONSUMER' }));
  });

  it('refuses a pattern that matches no event of the catalog, at compile time and when defined', () => {
    expect(() =>
      consumer({
        name: 'typo',
        // @ts-expect-error: matches no event of the catalog
        events: ['order.plcaed'],
        handle: noop,
      }),
    ).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_CONSUMER', message: expect.stringContaining('"order.plcaed" matches no event of the catalog') }));
    expect(() =>
      consumer({
        name: 'one-of-two',
        // @ts-expect-error: the second pattern matches nothing
        events: ['order.placed', 'user.*.deleted'],
        handle: noop,
      }),
    ).toThrow(expect.objectContaining({ code: 'OUTBOX_INVALID_CONSUMER' }));
  });

  it('takes patterns known only at run time, then sees every event of the catalog', () => {
    const patterns: string[] = ['order.placed'];
    consumer({
      name: 'runtime-patterns',
      events: patterns,
      async handle({ event }) {
        expectTypeOf(event).toEqualTypeOf<OrderPlaced | UserSignedUpV1 | UserSignedUpV2 | Anything>();
      },
    });
  });

  it('takes any pattern, and sees every event, when the catalog is typed only as EventDefinition[]', () => {
    const loose: EventDefinition[] = [...testEvents];
    createOutbox({ events: loose }).consumers()({
      name: 'loose-catalog',
      events: ['order.placed'],
      async handle({ event }) {
        expectTypeOf(event.type).toBeString();
        expectTypeOf(event.payload).toBeUnknown();
      },
    });
  });

  it('gives a raw-SQL transaction client when no type is bound', () => {
    outbox.consumers()({
      name: 'unbound',
      events: ['order.placed'],
      async handle({ tx }) {
        expectTypeOf(tx.$executeRaw).toBeFunction();
        // @ts-expect-error: the models are unknown without the app's client type
        expectTypeOf(tx.order).toBeObject();
      },
    });
  });

  it('goes into createWorker and defineConfig as they are, beside consumers of the old form', () => {
    const placed = consumer({ name: 'placed', events: ['order.placed'], handle: noop });
    const users = consumer({ name: 'users', events: ['user.*'], handle: noop });
    const legacy = defineConsumer<typeof testEvents, Prisma.TransactionClient>({ name: 'legacy', events: ['#'], handle: noop });
    const configure = (prisma: PrismaClient) => {
      createWorker({ prisma, amqpUrl: 'amqp://localhost', events: testEvents, consumers: [placed, users, legacy] });
      return defineConfig({ events: testEvents, consumers: [placed, users, legacy], prisma });
    };
    expectTypeOf(configure).toBeFunction();
    // A list of a catalog's consumers, whatever each subscribes to.
    expectTypeOf([placed, users]).toExtend<ConsumerDefinition<typeof testEvents, Prisma.TransactionClient>[]>();
  });
});

describe('defineConsumer, the form that names both types', () => {
  it('keeps compiling, with the whole catalog in the handler', () => {
    defineConsumer<typeof testEvents, Prisma.TransactionClient>({
      name: 'legacy-form',
      events: ['user.*'],
      async handle({ event, tx }) {
        expectTypeOf(event).toEqualTypeOf<OrderPlaced | UserSignedUpV1 | UserSignedUpV2 | Anything>();
        expectTypeOf(tx).toEqualTypeOf<Prisma.TransactionClient>();
      },
    });
  });
});

describe('publish', () => {
  // Compiled, never called: there is no database in this file.
  const compileOnly = (prisma: PrismaClient) => async () => {
    await prisma.$transaction(async (tx) => {
      await outbox.publish(tx, 'order.placed', { orderId: 'o-1', totalCents: 100 });
      await outbox.publishMany(tx, [{ event: 'user.signed-up', payload: { userId: 'u-1' } }]);
      // @ts-expect-error: a field order.placed does not have
      await outbox.publish(tx, 'order.placed', { orderId: 'o-1', totalCents: 100, userId: 'u-1' });
    });
    // @ts-expect-error: pass the transaction client (`tx`)
    await outbox.publish(prisma, 'order.placed', { orderId: 'o-1', totalCents: 100 });
    // @ts-expect-error: pass the transaction client (`tx`)
    await outbox.publishMany(prisma, [{ event: 'user.signed-up', payload: { userId: 'u-1' } }]);

    const extended = prisma.$extends(outboxExtension(outbox));
    await extended.$transaction((tx) => tx.$publish('user.signed-up', { userId: 'u-1' }));
    // @ts-expect-error: pass the transaction client (`tx`)
    await extended.$publish('user.signed-up', { userId: 'u-1' });
    // @ts-expect-error: pass the transaction client (`tx`)
    await extended.$publishMany([{ event: 'user.signed-up', payload: { userId: 'u-1' } }]);
  };

  it('takes the transaction client and refuses the root client with a message that says what to pass', () => {
    expectTypeOf(compileOnly).toBeFunction();
    expectTypeOf<Parameters<typeof outbox.publish<PrismaClient, 'order.placed'>>[0]>().toEqualTypeOf<RootClientRefused>();
    expectTypeOf<RootClientRefused>().toExtend<`pass the transaction client (\`tx\`)${string}`>();
  });
});
