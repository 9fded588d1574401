import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { HealthReport } from '../health/healthReport.js';

/**
 * Serves GET /metrics in the Prometheus text format, and GET /health: 200 with the
 * component's health report when healthy, 503 when not (or not yet started).
 * Resolves once listening.
 */
export function serveMetrics(registry: Registry, port: number, host = '0.0.0.0', health: () => HealthReport | undefined = () => undefined): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === '/health') {
      const report = health() ?? { healthy: false, component: 'unknown', checks: { started: { ok: false, detail: 'not started yet' } } };
      response.writeHead(report.healthy ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report));
      return;
    }
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: Error) => response.writeHead(500).end(error.message),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
