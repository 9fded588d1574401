/**
 * Whether a routing key matches an AMQP topic binding pattern: words separated by
 * dots, `*` standing for exactly one word and `#` for zero or more.
 */
export function matchesTopic(pattern: string, routingKey: string): boolean {
  const patternWords = pattern.split('.');
  const keyWords = routingKey.split('.');
  const match = (p: number, k: number): boolean => {
    if (p === patternWords.length) return k === keyWords.length;
    const word = patternWords[p];
    if (word === '#') {
      for (let skip = k; skip <= keyWords.length; skip += 1) if (match(p + 1, skip)) return true;
      return false;
    }
    if (k === keyWords.length) return false;
    return (word === '*' || word === keyWords[k]) && match(p + 1, k + 1);
  };
  return match(0, 0);
}

const PATTERN = /^(\*|#|[a-z0-9_-]+)(\.(\*|#|[a-z0-9_-]+))*$/;

export function isValidTopicPattern(pattern: string): boolean {
  return pattern.length <= 255 && PATTERN.test(pattern);
}

/** The event types (of a catalog) that any of the patterns match. */
export function typesMatching(patterns: readonly string[], types: readonly string[]): string[] {
  return types.filter((type) => patterns.some((pattern) => matchesTopic(pattern, type)));
}
