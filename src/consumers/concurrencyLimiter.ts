/** Runs up to `limit` tasks at once, queueing the rest in arrival order. */
export function createConcurrencyLimiter(limit: number) {
  let running = 0;
  const queued: (() => Promise<void>)[] = [];
  const idle = new Set<() => void>();
  const next = () => {
    while (running < limit && queued.length > 0) {
      const task = queued.shift()!;
      running += 1;
      // A task settles its own errors (runDelivery does); one that rejects anyway still
      // frees its slot, and is not rethrown: an unhandled rejection ends a process.
      void task()
        .catch(() => {})
        .finally(() => {
          running -= 1;
          next();
          if (running === 0 && queued.length === 0) for (const resolve of idle) resolve();
        });
    }
  };
  return {
    run(task: () => Promise<void>) {
      queued.push(task);
      next();
    },
    /** Resolves when nothing runs or waits. */
    drained(): Promise<void> {
      if (running === 0 && queued.length === 0) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          idle.delete(done);
          resolve();
        };
        idle.add(done);
      });
    },
  };
}
