// The start/stop contract every long-running component shares, with hooks that
// count what they opened and closed: no servers.
import { describe, expect, it } from 'vitest';
import { createComponentEvents } from '../../src/lifecycle/componentEvents.js';
import { createLifecycle } from '../../src/lifecycle/lifecycle.js';

/** Hooks whose open() waits until released or aborted, and a tally of what happened. */
function countingHooks() {
  const tally = { opened: 0, closed: 0, abortedOpens: 0 };
  let release: (() => void) | undefined;
  const hooks = {
    async open(signal: AbortSignal) {
      await new Promise<void>((resolve, reject) => {
        release = resolve;
        signal.addEventListener('abort', () => {
          tally.abortedOpens += 1;
          reject(new Error('gave up: stopping'));
        });
      });
      tally.opened += 1;
      return { id: tally.opened };
    },
    async close() {
      tally.closed += 1;
    },
  };
  return { tally, hooks, release: () => release?.() };
}

describe('the lifecycle contract', () => {
  it('concurrent start() calls share one promise and open once', async () => {
    const { tally, hooks, release } = countingHooks();
    const lifecycle = createLifecycle(hooks);
    const first = lifecycle.start();
    const second = lifecycle.start();
    expect(second).toBe(first);
    expect(lifecycle.state).toBe('starting');
    release();
    await Promise.all([first, second]);
    expect(tally.opened).toBe(1);
    expect(lifecycle.state).toBe('running');
    expect(lifecycle.running).toEqual({ id: 1 });
    await lifecycle.start();
    expect(tally.opened).toBe(1);
  });

  it('stop() during a start gives the start up, awaits it, and leaves nothing open', async () => {
    const { tally, hooks } = countingHooks();
    const lifecycle = createLifecycle(hooks);
    const starting = lifecycle.start();
    const stopping = lifecycle.stop();
    await expect(starting).rejects.toThrow('gave up');
    await stopping;
    expect(tally).toEqual({ opened: 0, closed: 0, abortedOpens: 1 });
    expect(lifecycle.state).toBe('stopped');
  });

  it('concurrent stop() calls share one promise and close once; stop() again and stop() before start() are no-ops', async () => {
    const { tally, hooks, release } = countingHooks();
    const lifecycle = createLifecycle(hooks);
    await lifecycle.stop();
    const starting = lifecycle.start();
    release();
    await starting;
    const first = lifecycle.stop();
    expect(lifecycle.stop()).toBe(first);
    await first;
    await lifecycle.stop();
    expect(tally.closed).toBe(1);
    expect(lifecycle.running).toBeUndefined();
  });

  it('starts again after a stop, with a fresh signal', async () => {
    const { tally, hooks, release } = countingHooks();
    const lifecycle = createLifecycle(hooks);
    const first = lifecycle.start();
    release();
    await first;
    const firstSignal = lifecycle.signal;
    await lifecycle.stop();
    expect(firstSignal.aborted).toBe(true);
    const second = lifecycle.start();
    release();
    await second;
    expect(lifecycle.signal.aborted).toBe(false);
    expect(tally).toMatchObject({ opened: 2, closed: 1 });
  });

  it('a start() during a stop() starts once the stop has closed everything', async () => {
    const { tally, hooks, release } = countingHooks();
    const lifecycle = createLifecycle(hooks);
    const first = lifecycle.start();
    release();
    await first;
    const stopping = lifecycle.stop();
    const restarting = lifecycle.start();
    await stopping;
    expect(tally.closed).toBe(1);
    release();
    await restarting;
    expect(lifecycle.state).toBe('running');
    expect(tally.opened).toBe(2);
  });

  it('a failed open leaves it stopped, and start() may be tried again', async () => {
    let attempts = 0;
    const lifecycle = createLifecycle({
      async open() {
        attempts += 1;
        if (attempts === 1) throw new Error('refused');
        return 'open';
      },
      async close() {},
    });
    await expect(lifecycle.start()).rejects.toThrow('refused');
    expect(lifecycle.state).toBe('stopped');
    await lifecycle.start();
    expect(lifecycle.state).toBe('running');
  });
});

describe('release', () => {
  it('runs at every stop, after close, started or not', async () => {
    const calls: string[] = [];
    const lifecycle = createLifecycle({
      open: async () => calls.push('open'),
      close: async () => void calls.push('close'),
      release: async () => void calls.push('release'),
    });
    await lifecycle.stop();
    await lifecycle.start();
    await lifecycle.stop();
    expect(calls).toEqual(['release', 'open', 'close', 'release']);
  });
});

describe('component events', () => {
  it('a listener that throws is reported, and neither the others nor the emitter are stopped', () => {
    const reported: string[] = [];
    const events = createComponentEvents<{ 'batch:done': [number] }>((error, event) => reported.push(`${event}: ${(error as Error).message}`));
    const seen: number[] = [];
    const recordSeen = (n: number) => seen.push(n);
    events.on('batch:done', () => {
      throw new Error('listener bug');
    });
    events.on('batch:done', recordSeen);
    events.emit('batch:done', 7);
    events.off('batch:done', recordSeen);
    events.emit('batch:done', 8);
    expect(seen).toEqual([7]);
    expect(reported).toEqual(['batch:done: listener bug', 'batch:done: listener bug']);
  });
});
