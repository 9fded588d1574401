/**
 * Idle waits that end after `intervalMs`, at `wakeAll()`, or when the signal
 * aborts, whichever comes first, leaving no timer or listener behind.
 */
export function createIdleWait(intervalMs: number, signal: AbortSignal) {
  const waiting = new Set<() => void>();
  return {
    wait(): Promise<void> {
      if (signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          waiting.delete(done);
          resolve();
        };
        const timer = setTimeout(done, intervalMs);
        signal.addEventListener('abort', done, { once: true });
        waiting.add(done);
      });
    },
    wakeAll(): void {
      for (const done of [...waiting]) done();
    },
  };
}
