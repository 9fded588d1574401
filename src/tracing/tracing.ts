// OpenTelemetry spans along a message's way, when the app has @opentelemetry/api (an
// optional peer dependency) and a tracer provider registered: `outbox.publish` in the
// writing transaction, `outbox.relay` when the relay sends it, `outbox.consume
// <consumer>` around each handler; each the child of the one before, through the
// message's `traceparent` header. Without the API nothing is loaded; without it or a
// provider every helper returns undefined: the hot paths then do no more than a check.
import { createRequire } from 'node:module';
import type { Context, Span, Tracer } from '@opentelemetry/api';

type OtelApi = typeof import('@opentelemetry/api');

let loaded: { api: OtelApi; tracer: Tracer } | null | undefined;

/** The API and our tracer; null when the app does not have the API. Loaded on first use. */
function loadOtel(): { api: OtelApi; tracer: Tracer } | null {
  if (loaded === undefined) {
    try {
      const api = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
      // The API keeps its provider on a global: whichever copy the app registered it with, this one finds it.
      loaded = { api, tracer: api.trace.getTracer('prisma-rabbitmq-outbox') };
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/**
 * Whether the app registered a tracer provider. Without one the global provider's delegate is
 * the API's no-op provider, the one a fresh proxy returns (a registration made through another
 * copy of the API is on the same global, so it is seen too).
 */
function providerRegistered(api: OtelApi): boolean {
  const current = api.trace.getTracerProvider() as { getDelegate?: () => unknown };
  if (typeof current.getDelegate !== 'function') return true;
  return current.getDelegate() !== new api.ProxyTracerProvider().getDelegate();
}

/**
 * The API and our tracer while the app traces: null without the API or without a
 * registered provider (prom-client brings the API into every install; the relay's and
 * the consumers' hot paths should not pay for no-op spans).
 */
function otel(): { api: OtelApi; tracer: Tracer } | null {
  const loadedOtel = loadOtel();
  return loadedOtel && providerRegistered(loadedOtel.api) ? loadedOtel : null;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The context a W3C traceparent names (a remote parent), or undefined for none or a malformed one. */
function contextOf(api: OtelApi, traceparent: unknown): Context | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const match = TRACEPARENT.exec(traceparent);
  if (!match) return undefined;
  const spanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16), isRemote: true };
  if (!api.trace.isSpanContextValid(spanContext)) return undefined;
  return api.trace.setSpanContext(api.ROOT_CONTEXT, spanContext);
}

/** The span's W3C traceparent; undefined when it is not sampled into a real trace (a no-op provider's span). */
function traceparentOf(span: Span): string | undefined {
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!span.isRecording() && traceFlags === 0) return undefined;
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

function endWith(api: OtelApi, span: Span, error: unknown): void {
  if (error !== undefined) {
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    if (error instanceof Error) span.recordException(error);
  }
  span.end();
}

export interface MessageAbout {
  id: string;
  eventType: string;
}

export interface TracedWrite {
  /** The traceparent to store with the message: the `outbox.publish` span's. */
  traceparent: string;
  /** Ends the span: after the insert, with its error when it failed. */
  end(error?: unknown): void;
}

/**
 * The write side: an `outbox.publish` span for one message, child of `traceparent`
 * (the caller's) or else of the active context. Undefined without a tracer provider.
 */
export function traceWrite(message: MessageAbout, traceparent: unknown): TracedWrite | undefined {
  const otelApi = otel();
  if (!otelApi) return undefined;
  const { api, tracer } = otelApi;
  const parent = contextOf(api, traceparent) ?? api.context.active();
  const span = tracer.startSpan(
    'outbox.publish',
    {
      kind: api.SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'create',
        'messaging.operation.name': 'publish',
        'messaging.message.id': message.id,
        'messaging.rabbitmq.destination.routing_key': message.eventType,
        'outbox.event_type': message.eventType,
      },
    },
    parent,
  );
  const own = traceparentOf(span);
  if (own === undefined) {
    span.end();
    return undefined;
  }
  return { traceparent: own, end: (error) => endWith(api, span, error) };
}

export interface TracedSends {
  /** Starts a message's `outbox.relay` span (child of its stored traceparent); returns the traceparent to send instead. */
  start(message: MessageAbout, storedTraceparent: unknown): string | undefined;
  /** Ends a message's span with how its publish ended (an error for a nack, a timeout, an interruption). */
  end(id: string, error?: string): void;
}

/** The relay side, for one batch: undefined while the app does not trace (the batch then sends headers as stored). */
export function traceSends(exchange: string): TracedSends | undefined {
  const otelApi = otel();
  if (!otelApi) return undefined;
  const { api, tracer } = otelApi;
  const spans = new Map<string, Span>();
  return {
    start(message, storedTraceparent) {
      const span = tracer.startSpan(
        'outbox.relay',
        {
          kind: api.SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'rabbitmq',
            'messaging.operation.type': 'send',
            'messaging.operation.name': 'publish',
            'messaging.destination.name': exchange,
            'messaging.message.id': message.id,
            'messaging.rabbitmq.destination.routing_key': message.eventType,
            'outbox.event_type': message.eventType,
          },
        },
        contextOf(api, storedTraceparent) ?? api.ROOT_CONTEXT,
      );
      spans.set(message.id, span);
      return traceparentOf(span);
    },
    end(id, error) {
      const span = spans.get(id);
      if (!span) return;
      spans.delete(id);
      endWith(api, span, error);
    },
  };
}

export interface TracedConsume {
  /** Runs `work` with the `outbox.consume` span active (the handler's own spans are its children). */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Ends the span with the delivery's outcome (and the handler's error, if it failed). */
  end(outcome: string, error?: unknown): void;
}

/** The consumer side, for one delivery: undefined while the app does not trace. */
export function traceConsume(consumer: string, message: MessageAbout & { traceparent: unknown; attempt: number }): TracedConsume | undefined {
  const otelApi = otel();
  if (!otelApi) return undefined;
  const { api, tracer } = otelApi;
  const span = tracer.startSpan(
    `outbox.consume ${consumer}`,
    {
      kind: api.SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': consumer,
        'messaging.consumer.group.name': consumer,
        'messaging.message.id': message.id,
        'messaging.rabbitmq.destination.routing_key': message.eventType,
        'outbox.event_type': message.eventType,
        'outbox.consumer': consumer,
        'outbox.attempt': message.attempt,
      },
    },
    contextOf(api, message.traceparent) ?? api.ROOT_CONTEXT,
  );
  const active = api.trace.setSpan(api.context.active(), span);
  let ended = false;
  return {
    run: (work) => api.context.with(active, work),
    end(outcome, error) {
      if (ended) return;
      ended = true;
      span.setAttribute('outbox.outcome', outcome);
      endWith(api, span, error);
    },
  };
}
