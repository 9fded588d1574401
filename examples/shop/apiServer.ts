// The shop's HTTP API: the endpoints write business rows and thin events in one
// transaction and return. POST /inline/orders is the old brittle endpoint, kept
// for the demo's comparison.
//
//   PORT (3000), DATABASE_URL, PROVIDERS_URL (for /inline/orders)
//   POST /signups {email, name}                  201 {userId} | 409 email taken
//   POST /orders {userId, lines:[{sku, quantity}], card}   201 {orderId} | 402 {orderId} declined
//   POST /inline/orders (same body)              201 | 502 a side effect failed (the order stays committed)
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { PrismaPg } from '@prisma/adapter-pg';
import { pino } from 'pino';
import { z } from 'zod';
import { Prisma, PrismaClient } from '../../generated/prisma/client.js';
import { isOutboxError } from '../../src/index.js';
import { PRICES_CENTS } from './catalog.js';
import { PaymentDeclinedError, placeOrder, placeOrderInline, signUp } from './endpoints.js';
import { HttpError, readJson, sendJson } from './httpJson.js';
import { ProviderError } from './providers.js';
import { stockWarehouse } from './inventory.js';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'api' } });
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL, max: 20, application_name: 'shop-api' }) });

const signupSchema = z.object({ email: z.string().email().max(200), name: z.string().min(1).max(200) });
const orderSchema = z.object({
  userId: z.string().uuid(),
  lines: z
    .array(z.object({ sku: z.string().refine((sku) => sku in PRICES_CENTS, 'unknown SKU'), quantity: z.number().int().min(1).max(100) }))
    .min(1)
    .max(20),
  card: z.string().min(1),
});

const requestIdOf = (request: IncomingMessage) => (request.headers['x-request-id'] as string | undefined) ?? randomUUID();

async function route(request: IncomingMessage): Promise<[number, unknown]> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (request.method === 'GET' && path === '/health') return [200, { ok: true }];
  if (request.method !== 'POST') throw new HttpError(405, 'POST only');
  const body = await readJson(request);
  const requestId = requestIdOf(request);
  if (path === '/signups') {
    try {
      const user = await signUp(prisma, signupSchema.parse(body), requestId);
      return [201, { userId: user.id }];
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') throw new HttpError(409, 'email already signed up');
      throw error;
    }
  }
  if (path === '/orders' || path === '/inline/orders') {
    const input = { ...orderSchema.parse(body), orderId: randomUUID() };
    try {
      const order = path === '/orders' ? await placeOrder(prisma, input, requestId) : await placeOrderInline(prisma, input);
      return [201, { orderId: order.id }];
    } catch (error) {
      if (error instanceof PaymentDeclinedError) throw new HttpError(402, error.message, { orderId: input.orderId });
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2003') throw new HttpError(422, 'unknown user');
      if (error instanceof ProviderError) throw new HttpError(502, error.message, { orderId: input.orderId });
      throw error;
    }
  }
  throw new HttpError(404, 'not found');
}

const server = createServer((request, response) => {
  route(request).then(
    ([status, body]) => sendJson(response, status, body),
    (error: unknown) => {
      if (error instanceof HttpError) return sendJson(response, error.status, { error: error.message, ...error.body });
      if (error instanceof z.ZodError) return sendJson(response, 400, { error: 'invalid request', issues: error.issues });
      if (isOutboxError(error)) return sendJson(response, 400, { error: error.message, code: error.code });
      logger.error({ err: error, path: request.url }, 'request failed');
      sendJson(response, 500, { error: 'internal error' });
    },
  );
});

await stockWarehouse(prisma);
const port = Number(process.env.PORT ?? 3000);
server.listen(port, () => logger.info({ port }, 'listening'));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => server.close(() => void prisma.$disconnect().then(() => process.exit(0))));
}
