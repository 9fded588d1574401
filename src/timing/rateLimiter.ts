import { sleep } from './sleep.js';

/**
 * A token bucket: at most `perSecond` takes a second on average, bursts up to one
 * second's worth (and at least one take, so that a rate below 1/s, e.g. 0.5, still
 * yields a token every 2 s). `perSecond` 0 means no limit.
 */
export function createRateLimiter(perSecond: number) {
  const capacity = Math.max(1, perSecond);
  let tokens = capacity;
  let refilledAt = performance.now();
  return {
    /** False when there is no cap: callers can skip the await altogether. */
    limited: perSecond > 0,
    async take(signal?: AbortSignal): Promise<void> {
      if (perSecond <= 0) return;
      for (;;) {
        const now = performance.now();
        tokens = Math.min(capacity, tokens + ((now - refilledAt) / 1000) * perSecond);
        refilledAt = now;
        if (tokens >= 1) {
          tokens -= 1;
          return;
        }
        if (signal?.aborted) return;
        await sleep(Math.ceil(((1 - tokens) / perSecond) * 1000), signal);
      }
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
