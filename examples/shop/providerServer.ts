// The "third parties" the shop's side effects call, as one HTTP server: an email
// service, an analytics collector and a partner's webhook, each with latency and a
// failure rate. Like real providers they do the work once per Idempotency-Key, and
// some failures come after the work was done (the response is lost): exactly when
// a caller's retry must not do it twice. What they did goes to demo_provider_call.
//
//   PORT (3001), DATABASE_URL, PROVIDER_LATENCY_MS (40), PROVIDER_FAIL_RATE (0.03)
//   POST /email | /analytics | /webhook  {subject}  with an Idempotency-Key header
//   POST /admin/outage {provider, durationMs}: that provider answers 503 meanwhile
import { createServer } from 'node:http';
import pg from 'pg';
import { pino } from 'pino';
import { z } from 'zod';
import { HttpError, readJson, sendJson } from './httpJson.js';
import type { ProviderName } from './providers.js';

const LATENCY_FACTOR: Record<ProviderName, number> = { email: 1, analytics: 0.25, webhook: 2 };
const providerNames = Object.keys(LATENCY_FACTOR) as ProviderName[];

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'providers' } });
const baseLatencyMs = Number(process.env.PROVIDER_LATENCY_MS ?? 40);
const failRate = Number(process.env.PROVIDER_FAIL_RATE ?? 0.03);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10, application_name: 'demo-providers' });
pool.on('error', (error) => logger.warn({ err: error }, 'idle database connection lost'));
const outageUntil = new Map<ProviderName, number>();

const callSchema = z.object({ subject: z.string().min(1).max(200) });
const outageSchema = z.object({ provider: z.enum(providerNames as [ProviderName, ...ProviderName[]]), durationMs: z.number().int().min(0).max(600_000) });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function doWork(provider: ProviderName, idempotencyKey: string, subject: string): Promise<void> {
  await pool.query(
    `INSERT INTO demo_provider_call (provider, idempotency_key, subject) VALUES ($1, $2, $3)
     ON CONFLICT (provider, idempotency_key) DO UPDATE SET calls = demo_provider_call.calls + 1`,
    [provider, idempotencyKey, subject],
  );
}

async function handleCall(provider: ProviderName, idempotencyKey: string | undefined, body: unknown): Promise<[number, unknown]> {
  if (!idempotencyKey) throw new HttpError(400, 'an Idempotency-Key header is required');
  const { subject } = callSchema.parse(body);
  await sleep(baseLatencyMs * LATENCY_FACTOR[provider] * (0.5 + Math.random()));
  if ((outageUntil.get(provider) ?? 0) > Date.now()) return [503, { error: `${provider} is down` }];
  const roll = Math.random();
  if (roll < failRate / 2) return [503, { error: 'temporarily unavailable' }];
  await doWork(provider, idempotencyKey, subject);
  // Done, but the caller never hears so: it will retry with the same key.
  if (roll < failRate) return [504, { error: 'gateway timeout' }];
  return [200, { ok: true }];
}

const server = createServer((request, response) => {
  void (async () => {
    try {
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      if (request.method === 'GET' && path === '/health') return sendJson(response, 200, { ok: true });
      if (request.method !== 'POST') throw new HttpError(405, 'POST only');
      const body = await readJson(request);
      if (path === '/admin/outage') {
        const { provider, durationMs } = outageSchema.parse(body);
        outageUntil.set(provider, Date.now() + durationMs);
        logger.warn({ provider, durationMs }, 'outage started');
        return sendJson(response, 200, { ok: true });
      }
      const provider = providerNames.find((name) => path === `/${name}`);
      if (!provider) throw new HttpError(404, 'no such provider');
      const [status, answer] = await handleCall(provider, request.headers['idempotency-key'] as string | undefined, body);
      sendJson(response, status, answer);
    } catch (error) {
      if (error instanceof HttpError) return sendJson(response, error.status, { error: error.message });
      if (error instanceof z.ZodError) return sendJson(response, 400, { error: 'invalid body', issues: error.issues });
      logger.error({ err: error }, 'provider failed');
      sendJson(response, 500, { error: 'internal error' });
    }
  })();
});

server.listen(Number(process.env.PORT ?? 3001), () => logger.info({ port: Number(process.env.PORT ?? 3001), baseLatencyMs, failRate }, 'listening'));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => server.close(() => void pool.end().then(() => process.exit(0))));
}
