// The comparison the whole project exists for: the same orders through the old
// endpoint that calls every side effect inline, and through the outbox endpoint.
import { percentile, type RequestResult } from './load.js';

export interface EndpointFigures {
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** Orders committed whose side effects were cut short by a failure. */
  halfDone: number;
}

export function endpointFigures(results: readonly RequestResult[]): EndpointFigures {
  const latencies = results.map((result) => result.latencyMs);
  const errors = results.filter((result) => result.status === 0 || result.status >= 500);
  return {
    requests: results.length,
    errors: errors.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    halfDone: errors.filter((result) => result.body.orderId !== undefined).length,
  };
}

export function formatComparison(outbox: EndpointFigures, inline: EndpointFigures): string {
  const percent = (figures: EndpointFigures) => `${figures.errors} (${((100 * figures.errors) / Math.max(1, figures.requests)).toFixed(1)}%)`;
  const ms = (value: number) => (Number.isNaN(value) ? '-' : `${value.toFixed(value < 10 ? 1 : 0)} ms`);
  const rows: [string, string, string][] = [
    ['', 'POST /orders (outbox)', 'POST /inline/orders (brittle)'],
    ['requests', String(outbox.requests), String(inline.requests)],
    ['errors (5xx, timeouts)', percent(outbox), percent(inline)],
    ['latency p50', ms(outbox.p50Ms), ms(inline.p50Ms)],
    ['latency p99', ms(outbox.p99Ms), ms(inline.p99Ms)],
    ['orders left with side effects undone', String(outbox.halfDone), String(inline.halfDone)],
  ];
  return rows.map(([label, left, right]) => `  ${label.padEnd(38)}${left.padStart(24)}${right.padStart(32)}`).join('\n');
}
