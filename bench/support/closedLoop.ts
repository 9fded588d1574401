/**
 * Runs `work` `total` times from `concurrency` callers at once, each starting its next
 * call as soon as its last one ends (a closed loop); resolves with the calls per second.
 * `work` gets the call's number, from 1.
 */
export async function closedLoopRate(total: number, concurrency: number, work: (call: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next += 1;
        await work(next);
      }
    }),
  );
  return total / ((performance.now() - started) / 1000);
}
