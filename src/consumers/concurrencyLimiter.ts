/**
 * Runs up to `limit` tasks at once, queueing the rest in arrival order. Tasks given
 * the same key run one after another, in arrival order (an ordered consumer's
 * deliveries of one ordering key); a task waiting for its key does not hold a slot,
 * so the next tasks of other keys start ahead of it.
 */
export function createConcurrencyLimiter(limit: number) {
  let running = 0;
  const queued: { task: () => Promise<void>; key: string | undefined }[] = [];
  const busyKeys = new Set<string>();
  const idle = new Set<() => void>();
  const takeNext = () => {
    const index = queued.findIndex((entry) => entry.key === undefined || !busyKeys.has(entry.key));
    return index === -1 ? undefined : queued.splice(index, 1)[0];
  };
  const next = () => {
    while (running < limit) {
      const entry = takeNext();
      if (!entry) return;
      running += 1;
      if (entry.key !== undefined) busyKeys.add(entry.key);
      // A task settles its own errors (runDelivery does); one that rejects anyway still
      // frees its slot, and is not rethrown: an unhandled rejection ends a process.
      void entry
        .task()
        .catch(() => {})
        .finally(() => {
          running -= 1;
          if (entry.key !== undefined) busyKeys.delete(entry.key);
          next();
          if (running === 0 && queued.length === 0) for (const resolve of idle) resolve();
        });
    }
  };
  return {
    run(task: () => Promise<void>, key?: string) {
      queued.push({ task, key });
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
