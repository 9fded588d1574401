/**
 * Idle waits that end after `intervalMs`, at a wake-up, or when the signal aborts,
 * whichever comes first, leaving no timer or listener behind.
 */
export function createIdleWait(intervalMs: number, signal: AbortSignal) {
  const waiting = new Set<() => void>();
  // A wake-up that found nobody waiting is kept for the next wait: it announced work
  // that arrived while every waiter was busy.
  let missed = false;
  return {
    /** `ms`: this wait's own interval, if not the default one. */
    wait(ms = intervalMs): Promise<void> {
      if (signal.aborted) return Promise.resolve();
      if (missed) {
        missed = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          waiting.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
        waiting.add(done);
      });
    },
    /** Ends one wait (the longest-waiting), or the next one if none is waiting now. */
    wakeOne(): void {
      const [first] = waiting;
      if (first) first();
      else missed = true;
    },
  };
}
