// npm run demo: the shop's endpoints writing business rows and thin events in one
// transaction, including the failures the outbox must survive; the relay
// publishing them to RabbitMQ with confirms; then checks computed from the
// database and the broker. (Workers and the reconciler join as they land.)
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import amqp from 'amqplib';
import pg from 'pg';
import { pino } from 'pino';
import { PrismaClient } from '../../generated/prisma/client.js';
import { createRelay, isOutboxError } from '../../src/index.js';
import { redactUrl } from '../../src/logging/redactUrl.js';
import { outbox, placeOrder, signUp } from '../shop/endpoints.js';
import { orderPlaced } from '../shop/events.js';

const databaseUrl = process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/outbox_demo';
const amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
// A queue bound to every event, standing in for the side-effect queues to come:
// look at it in the management console.
const EVENT_LOG_QUEUE = 'demo.event-log';
const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
const runId = randomUUID().slice(0, 8);
const approve = async () => {};
const decline = async () => {
  throw new Error('card declined');
};

console.log(`Outbox demo on ${redactUrl(databaseUrl)} and ${redactUrl(amqpUrl)}, run ${runId}\n`);
const broker = await amqp.connect(amqpUrl);
const channel = await broker.createChannel();
await channel.assertExchange('outbox.unroutable', 'fanout', { durable: true });
await channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
await channel.assertQueue(EVENT_LOG_QUEUE, { durable: true });
await channel.bindQueue(EVENT_LOG_QUEUE, 'outbox.events', '#');
await channel.purgeQueue(EVENT_LOG_QUEUE);
const before = await pool.query<{ max: string | null }>('SELECT max(seq)::text AS max FROM outbox_message');
const startSeq = before.rows[0]?.max ?? '0';

const users = await Promise.all(
  Array.from({ length: 3 }, (_, index) => signUp(prisma, { email: `${runId}-${index}@shop.example`, name: `Customer ${index}` }, `req-signup-${index}`)),
);
console.log(`POST /signups x${users.length}: 3 users, each with a user.signed-up event`);

const committedOrders: string[] = [];
for (const [index, user] of users.entries()) {
  const order = await placeOrder(prisma, { userId: user.id, lines: [{ sku: 'mug', quantity: index + 1, priceCents: 1200 }], chargeCard: approve }, `req-order-${index}`);
  committedOrders.push(order.id);
}
console.log(`POST /orders x${committedOrders.length}: committed, each with an order.placed event`);

const declined = await placeOrder(prisma, { userId: users[0]!.id, lines: [{ sku: 'lamp', quantity: 1, priceCents: 9900 }], chargeCard: decline }, 'req-declined').catch(
  (error: Error) => error,
);
console.log(`POST /orders, card declined after the event was written: ${declined instanceof Error ? declined.message : 'unexpectedly committed'} -> rolled back`);

const invalid = await prisma
  .$transaction((tx) => outbox.publish(tx, orderPlaced, { orderId: 'not-a-uuid', userId: users[0]!.id }))
  .catch((error: unknown) => error);
console.log(`publish with an invalid payload: ${isOutboxError(invalid) ? `${invalid.code} (${invalid.issues.map((issue) => issue.path.join('.')).join(', ')})` : 'accepted?!'}`);

const relay = createRelay({ databaseUrl, amqpUrl, logger: pino({ level: 'warn' }) });
const report = await relay.runOnce();
await relay.stop();
console.log(`\nrelay --once: ${report.published} published with broker confirms in ${report.batches} batch(es), ${report.retried} retried, ${report.failed} failed`);

const rows = await pool.query<{ seq: string; id: string; event_type: string; ordering_key: string; status: string; correlation: string }>(
  `SELECT seq::text, id, event_type, ordering_key, status, headers->>'correlationId' AS correlation
     FROM outbox_message WHERE seq > $1 ORDER BY seq`,
  [startSeq],
);
console.log('\nOutbox rows written by this run:');
console.table(rows.rows.map((row) => ({ seq: row.seq, messageId: row.id, type: row.event_type, key: row.ordering_key, status: row.status, correlationId: row.correlation })));

const deliveries = new Map<string, number>();
for (let message = await channel.get(EVENT_LOG_QUEUE); message !== false; message = await channel.get(EVENT_LOG_QUEUE)) {
  const id = String(message.properties.messageId);
  deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
  channel.ack(message);
}
await broker.close();

// The checks: from the database and the broker alone.
const eventsByOrder = new Map<string, number>();
for (const row of rows.rows) if (row.event_type === 'order.placed') eventsByOrder.set(row.ordering_key, (eventsByOrder.get(row.ordering_key) ?? 0) + 1);
const ordersInDb = await prisma.order.findMany({ where: { user: { email: { startsWith: `${runId}-` } } }, select: { id: true } });
const checks: [string, boolean][] = [
  ['every committed order has exactly one order.placed event', ordersInDb.length === committedOrders.length && ordersInDb.every((order) => eventsByOrder.get(order.id) === 1)],
  ['no event for the rolled-back order', eventsByOrder.size === committedOrders.length],
  ['every signup has its user.signed-up event', users.every((user) => rows.rows.some((row) => row.event_type === 'user.signed-up' && row.ordering_key === user.id))],
  ['the invalid payload wrote nothing', rows.rows.length === users.length + committedOrders.length],
  ['every event was published and confirmed by the broker', rows.rows.every((row) => row.status === 'published')],
  ['every event reached the broker exactly once', rows.rows.every((row) => deliveries.get(row.id) === 1)],
];
console.log('\nChecks:');
for (const [name, passed] of checks) console.log(`  ${passed ? 'PASS' : 'FAIL'}  ${name}`);
console.log(`\nManagement console: http://127.0.0.1:15672 (guest/guest): exchange outbox.events, queues ${EVENT_LOG_QUEUE} and outbox.unroutable.`);

await prisma.$disconnect();
await pool.end();
process.exitCode = checks.every(([, passed]) => passed) ? 0 : 1;
