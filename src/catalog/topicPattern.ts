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

// The same matching at the type level, so a consumer's handler sees only the events
// its patterns subscribe to. Recursion is over words, so a type of n words costs
// O(n * m) instantiations for a pattern of m words.

// Tail-recursive (an accumulator), so a type of up to 255 characters splits within the compiler's depth limit.
type Words<S extends string, Done extends string[] = []> = S extends `${infer Head}.${infer Rest}` ? Words<Rest, [...Done, Head]> : [...Done, S];

type WordsMatch<P extends readonly string[], K extends readonly string[]> = P extends readonly [
  infer Word extends string,
  ...infer PatternRest extends string[],
]
  ? Word extends '#'
    ? WordsMatch<PatternRest, K> extends true
      ? true
      : K extends readonly [string, ...infer KeyRest extends string[]]
        ? WordsMatch<P, KeyRest>
        : false
    : K extends readonly [infer KeyWord extends string, ...infer KeyRest extends string[]]
      ? Word extends '*' | KeyWord
        ? WordsMatch<PatternRest, KeyRest>
        : false
      : false
  : K extends readonly []
    ? true
    : false;

/**
 * `true` when the topic pattern matches the routing key, `false` when not, `boolean`
 * when either is the wide `string` (unknown until run time).
 */
export type MatchesTopic<Pattern extends string, RoutingKey extends string> = string extends Pattern
  ? boolean
  : string extends RoutingKey
    ? boolean
    : Pattern extends string
      ? RoutingKey extends string
        ? WordsMatch<Words<Pattern>, Words<RoutingKey>>
        : never
      : never;
