// The token bucket under a fake clock: no servers, no real waiting.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRateLimiter } from '../../src/timing/rateLimiter.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** How many takes complete within `ms` of fake time. */
async function takesWithin(limiter: ReturnType<typeof createRateLimiter>, ms: number): Promise<number> {
  let taken = 0;
  const stop = new AbortController();
  const taking = (async () => {
    for (;;) {
      await limiter.take(stop.signal);
      if (stop.signal.aborted) return;
      taken += 1;
    }
  })();
  await vi.advanceTimersByTimeAsync(ms);
  const counted = taken;
  stop.abort();
  await vi.runAllTimersAsync();
  await taking;
  return counted;
}

describe('createRateLimiter', () => {
  it('below one per second (0.5/s): a token at once, then one every 2 s', async () => {
    expect(await takesWithin(createRateLimiter(0.5), 10_000)).toBe(6);
  });

  it("10/s: a burst of one second's worth, then 10 a second", async () => {
    expect(await takesWithin(createRateLimiter(10), 3_000)).toBe(40);
  });

  it('0 means no limit: take() returns at once, and says it is not limited', async () => {
    const limiter = createRateLimiter(0);
    expect(limiter.limited).toBe(false);
    for (let i = 0; i < 1000; i += 1) await limiter.take();
  });

  it('an aborted signal ends a wait at once', async () => {
    const limiter = createRateLimiter(0.1);
    await limiter.take();
    const stop = new AbortController();
    const waiting = limiter.take(stop.signal);
    stop.abort();
    await expect(waiting).resolves.toBeUndefined();
  });
});
