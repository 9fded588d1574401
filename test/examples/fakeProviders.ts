// The shop's third parties for its unit tests, in memory: like the real ones
// (examples/shop/providerServer.ts) they do the work once per idempotency key, and
// they fail on demand, before the work (503) or after it with the answer lost (504).
import { ProviderError, type CallProvider, type ProviderName } from '../../examples/shop/providers.js';

export interface FakeProviders {
  call: CallProvider;
  /** The work done, by provider and idempotency key: its subject and how many calls carried the key. */
  work: Map<string, { subject: string; calls: number }>;
  /** The next `times` calls to `provider` fail: before doing the work, or after it (the caller never hears it was done). */
  failNext(provider: ProviderName, times: number, when?: 'before-work' | 'after-work'): void;
  /** `provider` answers 503 to every call until up() (or for good). */
  down(provider: ProviderName): void;
  up(provider: ProviderName): void;
  /** The work `provider` did. */
  doneBy(provider: ProviderName): { key: string; subject: string; calls: number }[];
  clear(): void;
}

export function createFakeProviders(): FakeProviders {
  const work = new Map<string, { subject: string; calls: number }>();
  const failures = new Map<ProviderName, { remaining: number; when: 'before-work' | 'after-work' }[]>();
  const isDown = new Set<ProviderName>();

  return {
    work,
    async call(provider, subject, idempotencyKey) {
      await Promise.resolve();
      if (isDown.has(provider)) throw new ProviderError(provider, 503, `${provider} is down`);
      const failure = failures.get(provider)?.find((each) => each.remaining > 0);
      if (failure) failure.remaining -= 1;
      if (failure?.when === 'before-work') throw new ProviderError(provider, 503, `${provider} answered 503: temporarily unavailable`);
      const key = `${provider}:${idempotencyKey}`;
      const done = work.get(key);
      work.set(key, { subject, calls: (done?.calls ?? 0) + 1 });
      if (failure?.when === 'after-work') throw new ProviderError(provider, 504, `${provider} answered 504: gateway timeout`);
    },
    failNext(provider, times, when = 'before-work') {
      failures.set(provider, [...(failures.get(provider) ?? []), { remaining: times, when }]);
    },
    down: (provider) => void isDown.add(provider),
    up: (provider) => void isDown.delete(provider),
    doneBy: (provider) =>
      [...work.entries()].filter(([key]) => key.startsWith(`${provider}:`)).map(([key, done]) => ({ key: key.slice(provider.length + 1), ...done })),
    clear() {
      work.clear();
      failures.clear();
      isDown.clear();
    },
  };
}
