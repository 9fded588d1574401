// A flag value the flag does not take is refused with the flag's name and what it
// takes, before anything is opened: never read as NaN and silently ignored.
import { describe, expect, it } from 'vitest';
import { runOutboxCli } from '../support/runOutboxCli.js';

// Nothing listens there: a command that got past its flags would fail differently.
const env = { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none', AMQP_URL: 'amqp://nobody:secret@127.0.0.1:1/' };

const cases: [string[], string][] = [
  [['dlq', 'list', 'send-email', '--limit', 'abc'], '--limit "abc": a whole number'],
  [['dlq', 'list', 'send-email', '--limit', '0'], '--limit "0": at least 1'],
  [['replay', '--consumer', 'send-email', '--since', '2026-11-01T00:00:00Z', '--rate', 'abc'], '--rate "abc": a number per second'],
  [['replay', '--consumer', 'send-email', '--since', 'yesterday'], '--since "yesterday": an ISO time'],
  [['relay', '--poll-interval', '100'], '--poll-interval "100": a duration like 500ms, 30s, 15m, 12h or 7d'],
  [['relay', '--batch-size', '1e3'], '--batch-size "1e3": a whole number'],
  [['relay', '--max-rate', 'fast'], '--max-rate "fast": a number per second'],
  [['relay', '--once', '--broker-wait', 'soon'], '--broker-wait "soon": a duration'],
  [['reconcile', '--grace', '15'], '--grace "15": a duration'],
  [['status', '--grace=-1m'], '--grace "-1m": a duration'],
  [['worker', '--metrics-port', 'http'], '--metrics-port "http": a whole number'],
  [['prune', '--older-than', '30d', '--horizon', 'week'], '--horizon "week": a duration'],
];

describe('flag values', () => {
  it.each(cases)('outbox %j is refused: %s', async (args, message) => {
    const result = await runOutboxCli(args, env);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain('OUTBOX_INVALID_OPTIONS');
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toContain('secret');
  });
});
