import { sleep } from './sleep.js';

/**
 * A token bucket: at most `perSecond` takes a second on average, bursts up to one
 * second's worth. `perSecond` 0 means no limit.
 */
export function createRateLimiter(perSecond: number) {
  let tokens = perSecond;
  let refilledAt = performance.now();
  return {
    /** False when there is no cap: callers can skip the await altogether. */
    limited: perSecond > 0,
    async take(signal?: AbortSignal): Promise<void> {
      if (perSecond <= 0) return;
      for (;;) {
        const now = performance.now();
        tokens = Math.min(perSecond, tokens + ((now - refilledAt) / 1000) * perSecond);
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
