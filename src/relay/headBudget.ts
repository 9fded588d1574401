import type { StoredMessage } from '../database/storedMessage.js';

/**
 * How many heads (unkeyed rows, or the first unfinished row of a key) a claim looks
 * for. Finding a head costs a probe per row scanned, and with few keys the heads are
 * few: a claim that asked for a batch's worth of heads scanned the whole backlog to
 * find them (55 ms a claim with 64 keys and 20,000 rows, against 13 ms when asking
 * for the few it needed). So the budget follows the run lengths the last claim saw:
 * enough heads to fill a batch with runs that long, and one to spare. Heads asked for
 * but not used stay locked until the batch commits, so other loops skip their keys
 * meanwhile: the spare is kept to one. A budget set
 * too low costs one short batch, after which it grows; it never affects which rows
 * are safe to claim, only how many keys one claim serves. Each of a relay's batch
 * loops keeps its own.
 */
export class HeadBudget {
  private wanted: number;

  constructor(private readonly batchSize: number) {
    this.wanted = batchSize;
  }

  get next(): number {
    return this.wanted;
  }

  private tookAll = false;

  /**
   * The last claim took every head that was free: it was short, with fewer heads than
   * asked for. Nothing else was claimable then, so the loop may wait to be told of new rows.
   */
  get lastClaimTookAll(): boolean {
    return this.tookAll;
  }

  /** Learns from what a claim that asked for `next` heads returned. */
  record(claimed: readonly Pick<StoredMessage, 'id' | 'orderingKey'>[]): void {
    this.tookAll = claimed.length === 0;
    if (claimed.length === 0) return;
    const heads = new Set(claimed.map((message) => message.orderingKey ?? `\u0000${message.id}`)).size;
    const full = claimed.length >= this.batchSize;
    this.tookAll = !full && heads < this.wanted;
    // Short, with fewer heads than asked for: every head there was got found, the runs
    // were whole; the budget was not what limited the claim.
    if (!full && heads < this.wanted) return;
    const runLength = claimed.length / heads;
    this.wanted = Math.min(this.batchSize, Math.ceil(this.batchSize / runLength) + 1);
  }
}
