import { OutboxError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const DURATION_HINT = 'a duration like 500ms, 30s, 15m, 12h or 7d';

/** "7d", "12h", "90m", "45s", "500ms", "1.5m" in milliseconds; undefined for anything else. */
export function parseDurationText(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  return match ? Math.round(Number(match[1]) * UNITS[match[2]!]!) : undefined;
}

/** A duration from an environment variable or a flag named `source`, or OUTBOX_INVALID_OPTIONS naming it. */
export function parseDuration(text: string, source: string): number {
  const ms = parseDurationText(text);
  if (ms === undefined) throw new OutboxError('OUTBOX_INVALID_OPTIONS', `${source} ${JSON.stringify(text)}: ${DURATION_HINT}`);
  return ms;
}
