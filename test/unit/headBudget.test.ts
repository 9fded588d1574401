// A relay loop's head budget: how many key heads a claim looks for, learnt from the
// runs the last claim returned. Pure arithmetic, no servers.
import { describe, expect, it } from 'vitest';
import { HeadBudget } from '../../src/relay/headBudget.js';

let nextId = 0;
/** A claim's rows: `runs[i]` rows of key `k<i>`, and `unkeyed` rows without a key. */
function claimOf(runs: number[], unkeyed = 0) {
  const rows = runs.flatMap((length, key) => Array.from({ length }, () => ({ id: `m${(nextId += 1)}`, orderingKey: `k${key}` })));
  return [...rows, ...Array.from({ length: unkeyed }, () => ({ id: `m${(nextId += 1)}`, orderingKey: null }))];
}

describe('HeadBudget', () => {
  it('starts by asking for a batch worth of heads (a key per row fills a batch)', () => {
    expect(new HeadBudget(500).next).toBe(500);
  });

  it('asks for few heads once a full batch came from a few long runs, with room to spare', () => {
    const budget = new HeadBudget(500);
    budget.record(claimOf([312, 188]));
    // Runs of 250 on average: two fill a batch, and one more is asked for to spare.
    expect(budget.next).toBe(3);
  });

  it('stays at a batch worth when every row is its own head', () => {
    const budget = new HeadBudget(500);
    budget.record(claimOf([], 500));
    expect(budget.next).toBe(500);
    budget.record(claimOf(Array.from({ length: 500 }, () => 1)));
    expect(budget.next).toBe(500);
  });

  it('grows again after a short claim that found as many heads as it asked for (the runs got shorter)', () => {
    const budget = new HeadBudget(500);
    budget.record(claimOf([500]));
    expect(budget.next).toBe(2);
    budget.record(claimOf([10, 10, 10]));
    expect(budget.next).toBe(51);
    budget.record(claimOf([], 51));
    expect(budget.next).toBe(500);
  });

  it('keeps its budget after a short claim that found fewer heads than asked for (the backlog ran out, not the budget)', () => {
    const budget = new HeadBudget(500);
    budget.record(claimOf([400, 100]));
    expect(budget.next).toBe(3);
    budget.record(claimOf([30, 2]));
    expect(budget.next).toBe(3);
  });

  it('ignores an empty claim', () => {
    const budget = new HeadBudget(500);
    budget.record(claimOf([500]));
    budget.record([]);
    expect(budget.next).toBe(2);
  });

  it('says when a claim took every free head (short, fewer heads than asked for), so the loop may wait', () => {
    const budget = new HeadBudget(500);
    budget.record(claimOf([1]));
    expect(budget.lastClaimTookAll).toBe(true);
    budget.record(claimOf([500]));
    expect(budget.lastClaimTookAll).toBe(false);
    // Short because the budget was low (as many heads as asked for): more may be there.
    budget.record(claimOf([100, 100]));
    expect(budget.lastClaimTookAll).toBe(false);
    budget.record([]);
    expect(budget.lastClaimTookAll).toBe(true);
  });
});
