import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { HealthSource } from '../health/healthReport.js';
import type { Logger } from '../logging/createLogger.js';
import { serveMetrics } from '../metrics/serveMetrics.js';

import { flag } from './commandFlags.js';

export const METRICS_OPTION = { 'metrics-port': { type: 'string' } } as const;
/** The --metrics-port flag's schema: a port number, 0 for any free one. */
export const METRICS_FLAG = {
  'metrics-port': flag.port().optional(),
};
export const METRICS_USAGE = '--metrics-port <n>  serve Prometheus metrics on GET /metrics and health on GET /health (0: any free port)';

export interface MetricsServer {
  registry?: Registry;
  /** The component GET /health reports on (503 until it is set). */
  reportHealthOf(source: HealthSource): void;
  close(): Promise<void>;
}

/** With --metrics-port: a registry (with the process's default metrics) and the component's health, served over HTTP. */
export async function startMetrics(port: number | undefined, logger: Logger): Promise<MetricsServer> {
  if (port === undefined) return { reportHealthOf: () => {}, close: async () => {} };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let source: HealthSource | undefined;
  const server = await serveMetrics(registry, port, '0.0.0.0', () => source?.health());
  logger.info({ metricsPort: (server.address() as AddressInfo).port }, 'metrics served on /metrics, health on /health');
  return {
    registry,
    reportHealthOf(component) {
      source = component;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
