/** Lets a running task wait without its slot (its key stays taken), then take a slot again. */
export type Pause = (ms: number) => Promise<void>;

/**
 * Runs up to `limit` tasks at once, queueing the rest in arrival order. Tasks given
 * the same key run one after another, in arrival order (an ordered consumer's
 * deliveries of one ordering key); a task waiting for its key does not hold a slot,
 * so the next tasks of other keys start ahead of it. A task that pauses (an ordered
 * delivery waiting to retry in place) gives its slot up meanwhile, not its key.
 */
export function createConcurrencyLimiter(limit: number) {
  let running = 0;
  const queued: { task: (pause: Pause) => Promise<void>; key: string | undefined }[] = [];
  /** Paused tasks whose wait is over, ahead of queued ones for the next free slot. */
  const resuming: (() => void)[] = [];
  const busyKeys = new Set<string>();
  const idle = new Set<() => void>();
  const takeNext = () => {
    const index = queued.findIndex((entry) => entry.key === undefined || !busyKeys.has(entry.key));
    return index === -1 ? undefined : queued.splice(index, 1)[0];
  };
  let paused = 0;
  const pause: Pause = async (ms) => {
    paused += 1;
    running -= 1;
    next();
    await new Promise((resolve) => setTimeout(resolve, ms));
    await new Promise<void>((resolve) => {
      resuming.push(resolve);
      next();
    });
    paused -= 1;
  };
  const next = () => {
    while (running < limit && resuming.length > 0) {
      running += 1;
      resuming.shift()!();
    }
    while (running < limit) {
      const entry = takeNext();
      if (!entry) return;
      running += 1;
      if (entry.key !== undefined) busyKeys.add(entry.key);
      // A task settles its own errors (runDelivery does); one that rejects anyway still
      // frees its slot, and is not rethrown: an unhandled rejection ends a process.
      void entry
        .task(pause)
        .catch(() => {})
        .finally(() => {
          running -= 1;
          if (entry.key !== undefined) busyKeys.delete(entry.key);
          next();
          if (running === 0 && paused === 0 && queued.length === 0) for (const resolve of idle) resolve();
        });
    }
  };
  return {
    run(task: (pause: Pause) => Promise<void>, key?: string) {
      queued.push({ task, key });
      next();
    },
    /** Resolves when nothing runs or waits. */
    drained(): Promise<void> {
      if (running === 0 && paused === 0 && queued.length === 0) return Promise.resolve();
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
