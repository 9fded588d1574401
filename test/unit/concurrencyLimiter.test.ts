// The worker's per-consumer concurrency: never more at once than the limit, in
// arrival order, and drained() resolves only when nothing runs or waits.
import { describe, expect, it } from 'vitest';
import { createConcurrencyLimiter } from '../../src/consumers/concurrencyLimiter.js';

describe('createConcurrencyLimiter', () => {
  it('runs at most `limit` tasks at once, in arrival order; drained() waits for the last', async () => {
    const limiter = createConcurrencyLimiter(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const finish: (() => void)[] = [];
    for (let n = 1; n <= 5; n += 1) {
      limiter.run(async () => {
        started.push(n);
        running += 1;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => finish.push(resolve));
        running -= 1;
      });
    }
    let drained = false;
    const draining = limiter.drained().then(() => (drained = true));
    expect(started).toEqual([1, 2]);
    while (finish.length > 0) {
      expect(drained).toBe(false);
      finish.shift()!();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await draining;
    expect(drained).toBe(true);
    expect(started).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
    await limiter.drained();
  });

  it('a task that rejects frees its slot like one that succeeds, and leaves no unhandled rejection', async () => {
    const limiter = createConcurrencyLimiter(1);
    const ran: string[] = [];
    limiter.run(async () => {
      ran.push('failed');
      throw new Error('a bug in a task');
    });
    limiter.run(async () => void ran.push('next'));
    await limiter.drained();
    expect(ran).toEqual(['failed', 'next']);
  });

  it('tasks of one key run one at a time in arrival order, while a waiting one lets other keys pass', async () => {
    const limiter = createConcurrencyLimiter(2);
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    const task = (name: string) => async () => {
      started.push(name);
      await new Promise<void>((resolve) => finish.set(name, resolve));
    };
    limiter.run(task('a1'), 'a');
    limiter.run(task('a2'), 'a');
    limiter.run(task('b1'), 'b');
    limiter.run(task('free'));
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    // a2 waits for a1 without taking the second slot: b1 has it.
    expect(started).toEqual(['a1', 'b1']);
    finish.get('b1')!();
    await settle();
    expect(started).toEqual(['a1', 'b1', 'free']);
    finish.get('a1')!();
    await settle();
    expect(started).toEqual(['a1', 'b1', 'free', 'a2']);
    finish.get('free')!();
    finish.get('a2')!();
    await limiter.drained();
  });

  it('a paused task gives up its slot but not its key, takes a slot again first, and counts as running for drained()', async () => {
    const limiter = createConcurrencyLimiter(1);
    const events: string[] = [];
    limiter.run(async (pause) => {
      events.push('a1 fails');
      await pause(30);
      events.push('a1 retried');
    }, 'a');
    limiter.run(async () => void events.push('a2'), 'a');
    limiter.run(async () => void events.push('b1'), 'b');
    let drained = false;
    const draining = limiter.drained().then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    // a1 waits without its slot: b1 ran; a2 waits for its key.
    expect(events).toEqual(['a1 fails', 'b1']);
    expect(drained).toBe(false);
    await draining;
    expect(events).toEqual(['a1 fails', 'b1', 'a1 retried', 'a2']);
  });
});
