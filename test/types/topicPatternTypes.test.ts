// The type-level topic matcher (what narrows a consumer's events) agrees with the
// run-time one (what the worker checks and RabbitMQ does) on every case of one
// table: `npm run typecheck` checks the types, vitest the run time.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { matchesTopic, type MatchesTopic } from '../../src/catalog/topicPattern.js';

const LONG = 'a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.end';

const cases = [
  ['order.placed', 'order.placed', true],
  ['order.placed', 'order.shipped', false],
  ['order.placed', 'order', false],
  ['order', 'order.placed', false],
  ['order.*', 'order.placed', true],
  ['order.*', 'order.placed.late', false],
  ['order.*', 'order', false],
  ['*.placed', 'order.placed', true],
  ['*', 'order.placed', false],
  ['*', 'order', true],
  ['*.*', 'order', false],
  ['order.#', 'order', true],
  ['order.#', 'order.placed.late', true],
  ['order.#', 'orders.placed', false],
  ['#', 'anything.at.all', true],
  ['#.#', 'a', true],
  ['#.placed', 'order.placed', true],
  ['#.placed', 'placed', true],
  ['#.placed', 'order.placed.late', false],
  ['a.#.z', 'a.z', true],
  ['a.#.z', 'a.b.c.z', true],
  ['a.#.z', 'a.b.c', false],
  ['a.*.#', 'a', false],
  ['a.*.#', 'a.b', true],
  ['#.a', 'a.a.a', true],
  ['user-v2.signed_up', 'user-v2.signed_up', true],
  ['#.end', LONG, true],
  ['*.#.z.end', LONG, true],
  ['#.y', LONG, false],
] as const;

// Generic, so that the mapped types map the tuple's elements.
type TypeLevel<C> = { [K in keyof C]: C[K] extends readonly [infer P extends string, infer R extends string, boolean] ? MatchesTopic<P, R> : never };
type Expected<C> = { [K in keyof C]: C[K] extends readonly [string, string, infer E] ? E : never };

describe('MatchesTopic', () => {
  it('agrees with matchesTopic on every case', () => {
    expectTypeOf<TypeLevel<typeof cases>>().toEqualTypeOf<Expected<typeof cases>>();
    for (const [pattern, key, expected] of cases) expect(matchesTopic(pattern, key), `${pattern} ~ ${key}`).toBe(expected);
  });

  it('is boolean, not a guess, when the pattern or the type is only known as string', () => {
    expectTypeOf<MatchesTopic<string, 'order.placed'>>().toEqualTypeOf<boolean>();
    expectTypeOf<MatchesTopic<'order.*', string>>().toEqualTypeOf<boolean>();
  });

  it('distributes over a union of patterns', () => {
    expectTypeOf<MatchesTopic<'order.*' | 'user.*', 'user.signed-up'>>().toEqualTypeOf<boolean>();
    expectTypeOf<MatchesTopic<'order.*' | 'user.*', 'shop.opened'>>().toEqualTypeOf<false>();
  });
});
