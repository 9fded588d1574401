import { describe, expect, it } from 'vitest';
import { isValidTopicPattern, matchesTopic, typesMatching } from '../../src/catalog/topicPattern.js';

describe('topic patterns', () => {
  it('match as RabbitMQ topic bindings do', () => {
    const cases: [string, string, boolean][] = [
      ['order.placed', 'order.placed', true],
      ['order.*', 'order.placed', true],
      ['order.*', 'order.placed.late', false],
      ['order.#', 'order', true],
      ['order.#', 'order.placed.late', true],
      ['#', 'anything.at.all', true],
      ['*.placed', 'order.placed', true],
      ['a.#.z', 'a.z', true],
      ['a.#.z', 'a.b.c.z', true],
      ['a.#.z', 'a.b.c', false],
      ['*', 'order.placed', false],
    ];
    for (const [pattern, key, expected] of cases) expect(matchesTopic(pattern, key), `${pattern} ~ ${key}`).toBe(expected);
    expect(typesMatching(['user.*', 'order.placed'], ['user.signed-up', 'order.placed', 'order.shipped'])).toEqual(['user.signed-up', 'order.placed']);
  });

  it('are validated', () => {
    expect(['order.*', '#', 'a.#.z', 'user_profile.updated-v2'].every(isValidTopicPattern)).toBe(true);
    expect(['', 'order..placed', 'Order.*', 'order.*x', 'a b'].some(isValidTopicPattern)).toBe(false);
  });
});
