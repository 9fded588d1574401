import { parseDuration } from './parseDuration.js';

/**
 * OUTBOX_SUMMARY_INTERVAL ("60s", "5m", "500ms"; "0s" for none): how often the
 * relay and the worker log their info summary. Unset: the component's default (60 s).
 */
export function readSummaryInterval(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env.OUTBOX_SUMMARY_INTERVAL;
  return value === undefined || value === '' ? undefined : parseDuration(value, 'OUTBOX_SUMMARY_INTERVAL');
}
