// What each consumer did since the worker's last summary, counted in memory on
// the delivery path (no I/O) and read, then reset, by the summary timer.

export type DeliveryOutcome = 'handled' | 'duplicate' | 'retried' | 'dead-lettered' | 'deferred' | 'handed-back' | 'held' | 'parked';

export interface ConsumerSummary {
  consumer: string;
  /** Handler ran and committed: the side effect is done. */
  handled: number;
  /** Skipped: already done (or dead) in the inbox. */
  duplicates: number;
  retried: number;
  deadLettered: number;
  /** The database was away: the same attempt again later. */
  deferred: number;
  /** The verdict could not be carried out on the broker (delivery requeued), or none came before the delivery deadline (deferred). */
  handedBack: number;
  /** Ordered consumers: held until an earlier message of their key is done. */
  held: number;
  /** Ordered consumers: failed for good, or arrived on a parked key. */
  parked: number;
  /** Over the deliveries whose handler ran (handled, retried, dead-lettered); null without any. */
  handlerP50Ms: number | null;
  handlerP99Ms: number | null;
}

/** Durations kept per consumer and interval at most (a uniform sample beyond: reservoir sampling). */
const SAMPLE_LIMIT = 4096;

type Counts = Omit<ConsumerSummary, 'consumer' | 'handlerP50Ms' | 'handlerP99Ms'> & {
  /** Durations offered to the sample this interval. */
  timed: number;
  samples: number[];
};

const FIELD: Record<DeliveryOutcome, keyof Omit<Counts, 'timed' | 'samples'>> = {
  handled: 'handled',
  duplicate: 'duplicates',
  retried: 'retried',
  'dead-lettered': 'deadLettered',
  deferred: 'deferred',
  'handed-back': 'handedBack',
  held: 'held',
  parked: 'parked',
};

const fresh = (): Counts => ({ handled: 0, duplicates: 0, retried: 0, deadLettered: 0, deferred: 0, handedBack: 0, held: 0, parked: 0, timed: 0, samples: [] });

/** Nearest-rank percentile of sorted values, to 0.1 ms. */
function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const value = sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return Math.round(value * 10) / 10;
}

export function createDeliveryStats(consumers: readonly string[]) {
  let counts = new Map(consumers.map((name) => [name, fresh()]));
  return {
    /** One delivery's outcome; `handlerMs` when its handler ran. */
    record(consumer: string, outcome: DeliveryOutcome, handlerMs?: number): void {
      const entry = counts.get(consumer);
      if (!entry) return;
      entry[FIELD[outcome]] += 1;
      if (handlerMs === undefined) return;
      entry.timed += 1;
      if (entry.samples.length < SAMPLE_LIMIT) entry.samples.push(handlerMs);
      else {
        const slot = Math.floor(Math.random() * entry.timed);
        if (slot < SAMPLE_LIMIT) entry.samples[slot] = handlerMs;
      }
    },
    /** Per consumer that did anything since the last call, reset to zero. */
    take(): ConsumerSummary[] {
      const taken = counts;
      counts = new Map(consumers.map((name) => [name, fresh()]));
      const summaries: ConsumerSummary[] = [];
      for (const [consumer, entry] of taken) {
        const { timed: _timed, samples, ...outcomes } = entry;
        if (Object.values(outcomes).every((count) => count === 0)) continue;
        const sorted = samples.sort((a, b) => a - b);
        summaries.push({ consumer, ...outcomes, handlerP50Ms: percentile(sorted, 50), handlerP99Ms: percentile(sorted, 99) });
      }
      return summaries;
    },
  };
}

export type DeliveryStats = ReturnType<typeof createDeliveryStats>;
