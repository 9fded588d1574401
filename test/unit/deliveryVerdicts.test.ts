// The verdicts a delivery gets before the database is asked anything: whatever
// arrives that cannot be an event of the catalog is dead-lettered as malformed,
// with the reason, and the database is never touched for it. (Verdicts that need
// the inbox, retry, dead-letter after maxAttempts and defer, are tested against
// PostgreSQL in test/consumers.)
import { randomUUID } from 'node:crypto';
import type { ConsumeMessage, MessageProperties } from 'amqplib';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { resolveConsumer } from '../../src/catalog/defineConsumer.js';
import { createEventCatalog } from '../../src/catalog/eventCatalog.js';
import { attemptOf } from '../../src/consumers/decodeDelivery.js';
import { handleDelivery } from '../../src/consumers/handleDelivery.js';
import type { PrismaRootClient } from '../../src/database/sqlStore.js';
import { testEvents } from '../support/events.js';

const catalog = createEventCatalog(testEvents);
const consumer = resolveConsumer({ name: 'unit-verdicts', events: ['#'], handle: async () => {} });
/** A database that must not be asked: a malformed delivery is judged without it. */
const untouchable = new Proxy({} as PrismaRootClient, {
  get: (_, property) => {
    throw new Error(`the database was asked (${String(property)}) for a malformed delivery`);
  },
});
const releaseHeld = () => Promise.reject(new Error('a malformed delivery released something'));
const context = { prisma: untouchable, catalog, consumer, logger: pino({ level: 'silent' }), transactionTimeoutMs: 1_000, releaseHeld };

/** A delivery as amqplib hands it over: every property present, most of them unset. */
function delivery(overrides: { properties?: Partial<MessageProperties>; content?: string | Buffer; routingKey?: string } = {}): ConsumeMessage {
  const properties: MessageProperties = {
    contentType: 'application/json',
    contentEncoding: undefined,
    headers: {},
    deliveryMode: 2,
    priority: undefined,
    correlationId: undefined,
    replyTo: undefined,
    expiration: undefined,
    messageId: randomUUID(),
    timestamp: undefined,
    type: 'order.placed',
    userId: undefined,
    appId: 'outbox-relay',
    clusterId: undefined,
    ...overrides.properties,
  };
  return {
    content: Buffer.isBuffer(overrides.content)
      ? overrides.content
      : Buffer.from(overrides.content ?? JSON.stringify({ orderId: randomUUID(), totalCents: 1 })),
    fields: { deliveryTag: 1, redelivered: false, exchange: 'outbox.events', routingKey: overrides.routingKey ?? 'order.placed', consumerTag: 'c' },
    properties,
  };
}

const cases: [string, ConsumeMessage, RegExp][] = [
  ['a message-id that is not a UUID', delivery({ properties: { messageId: 'order-42' } }), /message-id "order-42" is not a UUID/],
  ['no message-id', delivery({ properties: { messageId: undefined } }), /message-id null is not a UUID/],
  ['another content type', delivery({ properties: { contentType: 'text/plain' } }), /content-type "text\/plain" is not application\/json/],
  ['an event type outside the catalog', delivery({ properties: { type: 'order.exploded' } }), /unknown event type "order.exploded"/],
  ['a version this worker does not know', delivery({ properties: { headers: { 'outbox-event-version': 7 } } }), /unknown version 7 of event order.placed/],
  ['a version that is not a number', delivery({ properties: { headers: { 'outbox-event-version': 'two' } } }), /event version "two" is not a positive integer/],
  ['a body that is not UTF-8', delivery({ content: Buffer.from([0xff, 0xfe, 0x00]) }), /body is not UTF-8 JSON/],
  ['a body that is not JSON', delivery({ content: '{"orderId":' }), /body is not UTF-8 JSON/],
  [
    'a payload the schema refuses',
    delivery({ content: JSON.stringify({ orderId: 'not-a-uuid', totalCents: -1 }) }),
    /payload fails the order.placed v1 schema: orderId: .*; totalCents/,
  ],
];

describe('delivery verdicts without the database', () => {
  it.each(cases)('%s: dead-lettered as malformed, with why', async (_, message, why) => {
    const verdict = await handleDelivery(message, context);
    expect(verdict).toMatchObject({ action: 'dead-letter', reason: 'malformed', attempts: 1 });
    expect(verdict.action === 'dead-letter' && verdict.error).toMatch(why);
  });

  it('the attempt comes from the outbox-attempt header, 1 when absent or not a positive integer', () => {
    expect(attemptOf(delivery())).toBe(1);
    expect(attemptOf(delivery({ properties: { headers: { 'outbox-attempt': 3 } } }))).toBe(3);
    for (const bad of [0, -2, 1.5, '4', null]) expect(attemptOf(delivery({ properties: { headers: { 'outbox-attempt': bad } } }))).toBe(1);
  });
});
