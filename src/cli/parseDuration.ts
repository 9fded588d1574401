import { OutboxError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30d", "12h", "90m", "45s", "500ms" in milliseconds. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new OutboxError('OUTBOX_INVALID_OPTIONS', `${option} ${JSON.stringify(text)}: a duration like 30d, 12h, 90m or 45s`);
  return Number(match[1]) * UNITS[match[2]!]!;
}

/** An ISO date or date-time. */
export function parseTime(text: string, option: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new OutboxError('OUTBOX_INVALID_OPTIONS', `${option} ${JSON.stringify(text)}: an ISO time like 2026-11-01T00:00:00Z`);
  return date;
}
