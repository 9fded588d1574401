// The periodic summary line of a long-running component: counts are kept in
// memory by the hot path, and read (and reset) here, off it.

export interface SummaryTimer {
  /** Stops the timer, waits for a summary in progress, then writes the last one (what happened since). */
  stop(): Promise<void>;
}

/**
 * Calls `summarize` every `intervalMs` (0: never), one call at a time: the next
 * interval starts when a call ends, so a slow one never overlaps the next. The
 * timer is unref'd: it never keeps a process alive. `summarize` must not throw.
 */
export function startSummaryTimer(intervalMs: number, summarize: () => Promise<void>): SummaryTimer {
  let timer: NodeJS.Timeout | undefined;
  let inProgress: Promise<void> | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped || intervalMs === 0) return;
    timer = setTimeout(() => {
      inProgress = summarize().finally(() => {
        inProgress = undefined;
        schedule();
      });
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await inProgress;
      if (intervalMs > 0) await summarize();
    },
  };
}

/** The value of `work`, or `undefined` if it has not settled within `ms` (or failed). */
export async function withinMs<T>(ms: number, work: () => Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work().catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
