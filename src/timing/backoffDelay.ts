/**
 * Capped exponential backoff with jitter: attempt 1 waits about `initialMs`, each
 * further attempt doubles it up to `maxMs`, and a random ±`jitter` share spreads
 * retries of many processes apart (no thundering herd).
 */
export function backoffDelay(attempt: number, { initialMs, maxMs, jitter = 0.2 }: { initialMs: number; maxMs: number; jitter?: number }): number {
  const base = Math.min(maxMs / (1 + jitter), initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (1 - jitter + Math.random() * 2 * jitter));
}
