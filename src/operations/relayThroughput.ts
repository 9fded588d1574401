// The relay's publish rate, as an operator's page shows it without the relays' own
// metrics: sampled from the database at each refresh. Rows that left `pending` for
// `published` between two samples = rows written since (counted by seq, an index
// range) - the change in pending - the change in failed.
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { QueryRows } from '../database/sqlStore.js';

interface Sample {
  at: number;
  maxSeq: string;
  pending: number;
  failed: number;
  /** Rows written (committed) since the sample before. */
  written: number;
}

/** Rates are averaged over this much time at most (older samples are dropped). */
const WINDOW_MS = 60_000;

export interface ThroughputSampler {
  /** Records a sample (pending and failed as just read) and returns published per second over the window; null until two samples exist. */
  sample(query: QueryRows, backlog: { pending: number; failed: number }): Promise<number | null>;
}

export function createThroughputSampler(): ThroughputSampler {
  const samples: Sample[] = [];
  return {
    async sample(query, { pending, failed }) {
      const previous = samples.at(-1);
      const [row] = previous
        ? await query<{ maxSeq: string; written: number }>(sql`
            SELECT coalesce(max(seq), ${previous.maxSeq}::bigint)::text AS "maxSeq", count(*)::int AS "written"
              FROM outbox_message WHERE seq > ${previous.maxSeq}::bigint`)
        : await query<{ maxSeq: string; written: number }>(sql`SELECT coalesce(max(seq), 0)::text AS "maxSeq", 0 AS "written" FROM outbox_message`);
      const now = Date.now();
      samples.push({ at: now, maxSeq: row!.maxSeq, pending, failed, written: row!.written });
      while (samples.length > 2 && now - samples[1]!.at >= WINDOW_MS) samples.shift();
      const first = samples[0]!;
      if (samples.length < 2 || now === first.at) return null;
      const written = samples.slice(1).reduce((total, each) => total + each.written, 0);
      return Math.max(0, (written - (pending - first.pending) - (failed - first.failed)) / ((now - first.at) / 1000));
    },
  };
}
