// Every command's flags through one schema: a value that is not what the flag takes
// is refused with the flag's name and what it takes (never read as NaN and ignored),
// and every duration reads the same way: 500ms, 30s, 15m, 12h, 7d.
import { z } from 'zod';
import { OutboxError, zodIssues } from '../errors.js';
import { DURATION_HINT, parseDurationText } from './parseDuration.js';

const wholeNumber = /^\d+$/;
const decimal = /^\d+(\.\d+)?$/;

/** The value types a flag can take; each refuses anything else with what it takes. */
export const flag = {
  /** A whole number, at least `min` (1 by default). */
  count: (min = 1) =>
    z
      .string()
      .trim()
      .regex(wholeNumber, `a whole number (at least ${min})`)
      .transform(Number)
      .refine((n) => n >= min, `at least ${min}`),
  /** A TCP port, 0 for any free one. */
  port: () => flag.count(0).refine((port) => port <= 65_535, 'a port number up to 65535'),
  /** A rate per second: 200, 0.5; 0 only where `allowZero` (no cap). */
  rate: ({ allowZero = false } = {}) =>
    z
      .string()
      .trim()
      .regex(decimal, 'a number per second, like 200 or 0.5')
      .transform(Number)
      .refine((n) => allowZero || n > 0, 'more than 0'),
  /** A duration in milliseconds, written 500ms, 30s, 15m, 12h or 7d. */
  duration: () =>
    z.string().transform((text, context) => {
      const ms = parseDurationText(text);
      if (ms === undefined) {
        context.addIssue({ code: 'custom', message: DURATION_HINT });
        return z.NEVER;
      }
      return ms;
    }),
  /** An ISO date or date-time. */
  time: () =>
    z.string().transform((text, context) => {
      const date = new Date(text);
      if (Number.isNaN(date.getTime())) {
        context.addIssue({ code: 'custom', message: 'an ISO time like 2026-11-01T00:00:00Z' });
        return z.NEVER;
      }
      return date;
    }),
};

/**
 * The values node:util parseArgs read, through `shape` (one schema per command):
 * typed values, or OUTBOX_INVALID_OPTIONS naming the first flag that is wrong.
 */
export function readFlags<S extends z.ZodRawShape>(values: Record<string, unknown>, shape: S): z.output<z.ZodObject<S>> {
  const parsed = z.object(shape).safeParse(values);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const name = String(issue.path[0]);
  const given = values[name];
  const message = given === undefined ? `--${name} is required` : `--${name} ${JSON.stringify(given)}: ${issue.message}`;
  throw new OutboxError('OUTBOX_INVALID_OPTIONS', message, { issues: zodIssues(parsed.error) });
}
