// The relay loops' idle wait: a NOTIFY wakes one loop, and one that finds every loop
// busy is kept for the next wait. Timers only, no servers.
import { describe, expect, it } from 'vitest';
import { createIdleWait } from '../../src/timing/idleWait.js';

const settledWithin = async (promise: Promise<void>, ms: number) =>
  Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);

describe('createIdleWait', () => {
  it('wakeOne ends the longest wait only', async () => {
    const idle = createIdleWait(60_000, new AbortController().signal);
    const first = idle.wait();
    const second = idle.wait();
    idle.wakeOne();
    expect(await settledWithin(first, 50)).toBe(true);
    expect(await settledWithin(second, 50)).toBe(false);
    idle.wakeOne();
    expect(await settledWithin(second, 50)).toBe(true);
  });

  it('keeps a wake-up that found nobody waiting for the next wait, once', async () => {
    const controller = new AbortController();
    const idle = createIdleWait(60_000, controller.signal);
    idle.wakeOne();
    idle.wakeOne();
    expect(await settledWithin(idle.wait(), 50)).toBe(true);
    expect(await settledWithin(idle.wait(), 50)).toBe(false);
    controller.abort(); // ends the wait left, and its timer
  });

  it('ends by itself after the interval, and at abort', async () => {
    const controller = new AbortController();
    const idle = createIdleWait(20, controller.signal);
    expect(await settledWithin(idle.wait(), 500)).toBe(true);
    const slow = createIdleWait(60_000, controller.signal);
    const waiting = slow.wait();
    controller.abort();
    expect(await settledWithin(waiting, 50)).toBe(true);
  });
});
