// OpenTelemetry: one trace from `publish` (under the app's request span) through the
// relay to each consumer's handler, with the messaging attributes, recorded by the
// SDK's in-memory exporter against the real database and broker.
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutbox, createRelay, createWorker, defineConsumer, type Worker } from '../../src/index.js';
import { orderPlaced, testEvents } from '../support/events.js';
import { createTestBroker, eventually, takeAll, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

type Tx = Parameters<Parameters<TestDatabase['prisma']['$transaction']>[0]>[0];

let db: TestDatabase;
let broker: TestBroker;
const logger = pino({ level: 'silent' });
const outbox = createOutbox({ events: testEvents });
const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const appTracer = () => trace.getTracer('the-app');

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('tracing')]);
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
  await broker?.delete();
  await db?.drop();
});

const spanId = (span: ReadableSpan) => span.spanContext().spanId;
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const named = (name: string) => exporter.getFinishedSpans().filter((span) => span.name === name);
async function relayOnce(): Promise<void> {
  const relay = createRelay({ databaseUrl: db.url, amqpUrl: broker.url, logger });
  try {
    await relay.runOnce();
  } finally {
    await relay.stop();
  }
}
const storedHeaders = async (id: string) =>
  (await db.pool.query<{ headers: Record<string, string> }>('SELECT headers FROM outbox_message WHERE id = $1', [id])).rows[0]!.headers;

describe('tracing', () => {
  it('without a tracer provider, stores and sends no trace context of its own', async () => {
    const id = await db.prisma.$transaction((tx) => outbox.publish(tx, orderPlaced, { orderId: '0b4b5f2e-6a63-4f61-9a53-d1f0f1c2a001', totalCents: 1 }));
    expect(await storedHeaders(id)).toEqual({});
    await broker.channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
    await broker.channel.assertQueue('untraced', { durable: false, autoDelete: true });
    await broker.channel.bindQueue('untraced', 'outbox.events', 'order.placed');
    await relayOnce();
    const [sent] = await takeAll(broker.channel, 'untraced');
    expect(sent!.properties.headers).not.toHaveProperty('traceparent');
    await broker.channel.deleteQueue('untraced');
  });

  describe('with a tracer provider', () => {
    let worker: Worker;
    const handlerSpans = new Map<string, string>();
    let flakyFailures = 0;

    beforeAll(async () => {
      provider.register();
      // Each handler starts a span of its own: it must be a child of the consume span.
      const recordingHandler = (name: string) => async () => {
        appTracer().startActiveSpan(`${name} work`, (span) => {
          handlerSpans.set(name, span.spanContext().spanId);
          span.end();
        });
      };
      worker = createWorker({
        prisma: db.prisma,
        amqpUrl: broker.url,
        events: testEvents,
        logger,
        consumers: [
          defineConsumer<typeof testEvents, Tx>({ name: 'send-receipt', events: ['order.placed'], handle: recordingHandler('send-receipt') }),
          defineConsumer<typeof testEvents, Tx>({ name: 'ship-order', events: ['order.placed'], batchSize: 5, handle: recordingHandler('ship-order') }),
          defineConsumer<typeof testEvents, Tx>({
            name: 'flaky-ledger',
            events: ['order.placed'],
            retryDelays: [50],
            async handle() {
              flakyFailures += 1;
              if (flakyFailures === 1) throw new Error('ledger down');
            },
          }),
        ],
      });
      await worker.start();
    });
    afterAll(async () => {
      await worker?.stop();
    });

    it('connect the request, publish, the relay and every consumer (and its handler) in one trace', async () => {
      exporter.reset();
      const id = await appTracer().startActiveSpan('POST /orders', async (request) => {
        try {
          return await db.prisma.$transaction((tx) => outbox.publish(tx, orderPlaced, { orderId: '0b4b5f2e-6a63-4f61-9a53-d1f0f1c2a002', totalCents: 5 }));
        } finally {
          request.end();
        }
      });
      await relayOnce();
      await eventually(
        () => named('outbox.consume flaky-ledger').length === 2 && named('outbox.consume send-receipt').length === 1,
        10_000,
        'every consumer done',
      );
      await eventually(() => named('outbox.consume ship-order').length === 1, 10_000, 'the batched consumer done');

      const [request] = named('POST /orders');
      const [publish] = named('outbox.publish');
      const [relay] = named('outbox.relay');
      expect(publish).toBeDefined();
      expect(relay).toBeDefined();
      const traceId = request!.spanContext().traceId;
      for (const span of exporter.getFinishedSpans()) expect(span.spanContext().traceId, span.name).toBe(traceId);

      // The write: a child of the request, its context stored with the message.
      expect(parentOf(publish!)).toBe(spanId(request!));
      expect(publish!.kind).toBe(SpanKind.PRODUCER);
      expect(publish!.attributes).toMatchObject({
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'create',
        'messaging.message.id': id,
        'messaging.rabbitmq.destination.routing_key': 'order.placed',
      });
      expect((await storedHeaders(id)).traceparent).toBe(`00-${traceId}-${spanId(publish!)}-01`);

      // The relay's send: a child of the publish.
      expect(parentOf(relay!)).toBe(spanId(publish!));
      expect(relay!.kind).toBe(SpanKind.PRODUCER);
      expect(relay!.status.code).not.toBe(SpanStatusCode.ERROR);
      expect(relay!.attributes).toMatchObject({
        'messaging.operation.type': 'send',
        'messaging.destination.name': 'outbox.events',
        'messaging.message.id': id,
      });

      // Each consumer: children of the relay's send; the handler's own spans children of them.
      for (const consumer of ['send-receipt', 'ship-order']) {
        const [consume] = named(`outbox.consume ${consumer}`);
        expect(parentOf(consume!), consumer).toBe(spanId(relay!));
        expect(consume!.kind).toBe(SpanKind.CONSUMER);
        expect(consume!.attributes).toMatchObject({
          'messaging.system': 'rabbitmq',
          'messaging.operation.type': 'process',
          'messaging.consumer.group.name': consumer,
          'messaging.message.id': id,
          'outbox.outcome': 'handled',
        });
        const [work] = named(`${consumer} work`);
        expect(spanId(work!)).toBe(handlerSpans.get(consumer));
        expect(parentOf(work!), `${consumer}'s handler span`).toBe(spanId(consume!));
      }

      // A failed attempt is a span with the error; the retry, another child of the relay's send.
      const attempts = named('outbox.consume flaky-ledger').sort((a, b) => Number(a.attributes['outbox.attempt']) - Number(b.attributes['outbox.attempt']));
      expect(attempts.map((span) => [span.attributes['outbox.attempt'], span.attributes['outbox.outcome'], span.status.code])).toEqual([
        [1, 'retried', SpanStatusCode.ERROR],
        [2, 'handled', SpanStatusCode.UNSET],
      ]);
      expect(attempts[0]!.status.message).toBe('ledger down');
      for (const attempt of attempts) expect(parentOf(attempt)).toBe(spanId(relay!));
    });

    it("a batched consumer's group: each message's consume span is the child of its own send, the handler's spans of it", async () => {
      exporter.reset();
      // Its queue declared, then the messages queued while no worker consumes it: they arrive as one group.
      const packed: string[] = [];
      const packing = () =>
        createWorker({
          prisma: db.prisma,
          amqpUrl: broker.url,
          events: testEvents,
          logger,
          consumers: [
            defineConsumer<typeof testEvents, Tx>({
              name: 'pack-order',
              events: ['order.placed'],
              batchSize: 10,
              async handle() {
                appTracer().startActiveSpan('pack-order work', (span) => {
                  packed.push(span.spanContext().spanId);
                  span.end();
                });
              },
            }),
          ],
        });
      const declaring = packing();
      await declaring.start();
      await declaring.stop();
      const ids = await db.prisma.$transaction((tx) =>
        outbox.publishMany(
          tx,
          [5, 6, 7, 8].map((n) => ({ event: orderPlaced, payload: { orderId: `0b4b5f2e-6a63-4f61-9a53-d1f0f1c2a01${n}`, totalCents: n } })),
        ),
      );
      await relayOnce();
      await eventually(async () => (await broker.channel.checkQueue('pack-order')).messageCount === 4, 10_000, 'the four queued');
      const groupWorker = packing();
      await groupWorker.start();
      try {
        // Every consumer done with them, so that no span of theirs lands in the next test.
        await eventually(
          () => ['pack-order', 'ship-order', 'send-receipt', 'flaky-ledger'].every((consumer) => named(`outbox.consume ${consumer}`).length === 4),
          10_000,
          'the consumers done',
        );
      } finally {
        await groupWorker.stop();
      }
      const sendOf = new Map(named('outbox.relay').map((span) => [span.attributes['messaging.message.id'], span]));
      const consumes = named('outbox.consume pack-order');
      expect(new Set(consumes.map((span) => span.attributes['messaging.message.id']))).toEqual(new Set(ids));
      for (const consume of consumes) {
        const send = sendOf.get(consume.attributes['messaging.message.id'])!;
        expect(parentOf(consume)).toBe(spanId(send));
        expect(consume.spanContext().traceId).toBe(send.spanContext().traceId);
        expect(consume.attributes['outbox.outcome']).toBe('handled');
      }
      // Handled in one transaction, each handler under its own message's span.
      const works = named('pack-order work');
      expect(works.map(spanId).sort()).toEqual([...packed].sort());
      expect(new Set(works.map(parentOf))).toEqual(new Set(consumes.map(spanId)));
      // No request span: each publish is a root of its own trace.
      expect(new Set(named('outbox.publish').map((span) => span.spanContext().traceId)).size).toBe(4);
    });

    it("a caller's traceparent (a request traced elsewhere) is the publish span's parent", async () => {
      exporter.reset();
      const remoteTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
      const id = await db.prisma.$transaction((tx) =>
        outbox.publish(
          tx,
          orderPlaced,
          { orderId: '0b4b5f2e-6a63-4f61-9a53-d1f0f1c2a003', totalCents: 7 },
          { traceparent: `00-${remoteTrace}-00f067aa0ba902b7-01` },
        ),
      );
      const [publish] = named('outbox.publish');
      expect(publish!.spanContext().traceId).toBe(remoteTrace);
      expect(parentOf(publish!)).toBe('00f067aa0ba902b7');
      expect((await storedHeaders(id)).traceparent).toBe(`00-${remoteTrace}-${spanId(publish!)}-01`);
      await relayOnce();
      const consumed = () => named('outbox.consume send-receipt').filter((span) => span.attributes['messaging.message.id'] === id);
      await eventually(() => consumed().length === 1, 10_000, 'the consumer done');
      expect(consumed()[0]!.spanContext().traceId).toBe(remoteTrace);
    });

    it('a publish whose insert fails ends its span with the error', async () => {
      exporter.reset();
      await expect(
        db.prisma.$transaction(async (tx) => {
          // A statement that fails leaves the transaction aborted: the insert fails with it.
          await tx.$executeRaw`SELECT 1/0`.catch(() => {});
          await outbox.publish(tx, orderPlaced, { orderId: '0b4b5f2e-6a63-4f61-9a53-d1f0f1c2a004', totalCents: 1 });
        }),
      ).rejects.toThrow();
      const spans = named('outbox.publish');
      expect(spans).toHaveLength(1);
      expect(spans[0]!.status.code).toBe(SpanStatusCode.ERROR);
    });
  });
});
