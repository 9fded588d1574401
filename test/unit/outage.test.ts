// "Back off on failure, log once per outage", read from the lines a real pino logger writes.
import { describe, expect, it } from 'vitest';
import { createOutage } from '../../src/lifecycle/outage.js';
import { captureLogs } from '../support/captureLogs.js';

describe('createOutage', () => {
  it('one warn line when an outage starts, one info line when it ends, growing waits between', () => {
    const { logger, lines } = captureLogs();
    const outage = createOutage({
      logger,
      errorFor: (error) => error as Error,
      startMessage: 'database away',
      endMessage: 'database back',
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    outage.succeeded();
    const waits = [1, 2, 3, 4, 5, 6].map(() => outage.failed(new Error('ECONNREFUSED')));
    expect(outage.failures).toBe(6);
    outage.succeeded({ attempts: 7 });
    outage.failed(new Error('again'));
    expect(lines.map((line) => [line.msg, line.level])).toEqual([
      ['database away', 40],
      ['database back', 30],
      ['database away', 40],
    ]);
    expect(lines[1]).toMatchObject({ failures: 6, attempts: 7 });
    expect(waits[0]).toBeGreaterThanOrEqual(80);
    expect(waits[0]).toBeLessThanOrEqual(120);
    expect(waits[3]).toBeGreaterThan(waits[0]!);
    expect(Math.max(...waits)).toBeLessThanOrEqual(1_000);
  });
});

describe('an outage the caller noticed itself', () => {
  it('began(): the failures that follow add no line; no end line without an end message', () => {
    const { logger, lines } = captureLogs();
    const outage = createOutage({ logger, errorFor: (error) => error as Error, startMessage: 'broker unreachable', backoff: { initialMs: 10, maxMs: 100 } });
    outage.began();
    outage.failed(new Error('ECONNREFUSED'));
    outage.failed(new Error('ECONNREFUSED'));
    outage.succeeded();
    outage.failed(new Error('a new outage'));
    expect(lines.map((line) => line.msg)).toEqual(['broker unreachable']);
    expect(lines[0]!.err).toMatchObject({ message: 'a new outage' });
  });
});
