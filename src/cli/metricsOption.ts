import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from '../logging/createLogger.js';
import { serveMetrics } from '../metrics/serveMetrics.js';

export const METRICS_OPTION = { 'metrics-port': { type: 'string' } } as const;
export const METRICS_USAGE = '--metrics-port <n>  serve Prometheus metrics on GET /metrics (0: any free port)';

/** With --metrics-port: a registry (with the process's default metrics) served over HTTP. */
export async function startMetrics(port: string | undefined, logger: Logger): Promise<{ registry?: Registry; close(): Promise<void> }> {
  if (port === undefined) return { close: async () => {} };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const server = await serveMetrics(registry, Number(port));
  logger.info({ metricsPort: (server.address() as AddressInfo).port }, 'metrics served on /metrics');
  return { registry, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
