// One start/stop contract for every long-running component (relay, worker,
// reconciler), as pg-boss's: start() is idempotent and awaitable (concurrent calls
// share one promise); stop() is idempotent, gives up a start still waiting out an
// outage, awaits it, and closes what it opened; a stopped component starts again.

export type LifecycleState = 'stopped' | 'starting' | 'running' | 'stopping';

export interface LifecycleHooks<R> {
  /**
   * Opens what the component runs on and starts it. `signal` aborts when stop() is
   * called: an open still waiting for a database or broker gives up (and closes
   * what it opened itself) rather than hold stop() up.
   */
  open(signal: AbortSignal): Promise<R>;
  /** Stops what `open` started: in-flight work drained, connections closed. */
  close(running: R): Promise<void>;
  /**
   * Runs at every stop(), started or not, after close: lets go of what one-off runs
   * (runOnce) opened outside a start. The next start or run opens them again.
   */
  release?(): Promise<void>;
}

export interface Lifecycle<R> {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly state: LifecycleState;
  /** What open() returned, while running. */
  readonly running: R | undefined;
  /** Aborted by stop(); a fresh one for each start. */
  readonly signal: AbortSignal;
}

export function createLifecycle<R>(hooks: LifecycleHooks<R>): Lifecycle<R> {
  let state: LifecycleState = 'stopped';
  let controller = new AbortController();
  let running: R | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  async function startOnce(): Promise<void> {
    controller = new AbortController();
    state = 'starting';
    try {
      running = await hooks.open(controller.signal);
      state = 'running';
    } catch (error) {
      state = 'stopped';
      starting = undefined;
      throw error;
    }
  }

  async function stopOnce(): Promise<void> {
    const opening = starting;
    try {
      if (!opening) return;
      state = 'stopping';
      controller.abort(new Error('stopping'));
      await opening.catch(() => {});
      if (running !== undefined) await hooks.close(running);
    } finally {
      running = undefined;
      starting = undefined;
      state = 'stopped';
      // Even after a close that failed: what one-off runs opened is let go.
      await hooks.release?.();
    }
  }

  const lifecycle: Lifecycle<R> = {
    start() {
      // A start during a stop begins once that stop has closed everything.
      if (stopping) return stopping.then(() => lifecycle.start());
      starting ??= startOnce();
      return starting;
    },
    stop() {
      stopping ??= stopOnce().finally(() => {
        stopping = undefined;
      });
      return stopping;
    },
    get state() {
      return state;
    },
    get running() {
      return running;
    },
    get signal() {
      return controller.signal;
    },
  };
  return lifecycle;
}
