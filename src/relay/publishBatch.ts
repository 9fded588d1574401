// Publishes a batch on a confirm channel, streaming: every message goes out
// without waiting for the previous confirm; `publish()` returning false pauses
// until the channel drains; one deadline bounds the whole batch.
import type { ConfirmChannel } from 'amqplib';
import { messageProperties } from '../broker/wireFormat.js';
import type { RateLimiter } from '../timing/rateLimiter.js';
import type { StoredMessage } from '../database/storedMessage.js';
import { traceSends } from '../tracing/tracing.js';

export interface PublishOutcome {
  /** Confirmed (ack) by the broker: safe to mark published. */
  confirmed: string[];
  /** Refused (nack) by the broker. */
  nacked: string[];
  /** No confirm before the deadline: maybe delivered, maybe not. */
  timedOut: string[];
  /** Unanswered when the channel closed (broker restart, connection loss): not the message's fault. */
  interrupted: string[];
  /** How long handing every message to the channel took; the rest of the call waited for confirms. */
  writtenMs: number;
}

export interface PublishBatchOptions {
  exchange: string;
  appId: string;
  confirmTimeoutMs: number;
  rateLimiter: RateLimiter;
}

/**
 * Publishes every message and waits for the broker's verdicts, up to the deadline.
 * Never throws: each message ends in exactly one list of the outcome.
 */
/** What a batch needs of a confirm channel: publish with a confirm callback, and its close and drain events. */
export interface PublishingChannel {
  publish: ConfirmChannel['publish'];
  on(event: 'close' | 'drain', listener: () => void): unknown;
  removeListener(event: 'close' | 'drain', listener: () => void): unknown;
}

export async function publishBatch(channel: PublishingChannel, messages: StoredMessage[], options: PublishBatchOptions): Promise<PublishOutcome> {
  const state = { closed: false, expired: false };
  let wake: (() => void) | undefined;
  let signalClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    signalClosed = resolve;
  });
  const onClose = () => {
    state.closed = true;
    wake?.();
    signalClosed();
  };
  const onDrain = () => wake?.();
  channel.on('close', onClose);
  channel.on('drain', onDrain);
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      state.expired = true;
      wake?.();
      resolve();
    }, options.confirmTimeoutMs);
  });
  const stopped = () => state.closed || state.expired;
  // outbox.relay spans, when the app traces: each message is sent with its span's traceparent.
  const traced = traceSends(options.exchange);

  // Each confirm resolves true (ack) or false (nack, or "channel closed": told apart
  // afterwards, since amqplib fails the callbacks before our close listener runs).
  const verdicts = new Map<string, boolean>();
  const pending: Promise<void>[] = [];
  const notSent = new Set<string>();
  const started = performance.now();
  let writtenMs: number;
  try {
    for (const message of messages) {
      if (stopped()) {
        notSent.add(message.id);
        continue;
      }
      if (options.rateLimiter.limited) await options.rateLimiter.take();
      let settle: () => void = () => {};
      const answered = new Promise<void>((resolve) => {
        settle = resolve;
      });
      let accepted: boolean;
      const properties = messageProperties(message, options.appId);
      if (traced) {
        const headers = properties.headers as Record<string, unknown>;
        const traceparent = traced.start(message, headers.traceparent);
        if (traceparent !== undefined) properties.headers = { ...headers, traceparent };
      }
      try {
        accepted = channel.publish(options.exchange, message.eventType, Buffer.from(message.payload, 'utf8'), properties, (error: unknown) => {
          verdicts.set(message.id, error == null);
          settle();
        });
      } catch {
        // amqplib throws when the channel is already closing: the same as a close.
        onClose();
        notSent.add(message.id);
        continue;
      }
      pending.push(answered);
      if (!accepted && !stopped()) {
        // Back-pressure: the socket buffer is full; wait for drain, close or the deadline.
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    }
    writtenMs = performance.now() - started;
    await Promise.race([Promise.all(pending), expiry, closed]);
  } finally {
    clearTimeout(timer);
    channel.removeListener('close', onClose);
    channel.removeListener('drain', onDrain);
  }

  const outcome: PublishOutcome = { confirmed: [], nacked: [], timedOut: [], interrupted: [...notSent], writtenMs };
  for (const message of messages) {
    const verdict = verdicts.get(message.id);
    if (verdict === true) outcome.confirmed.push(message.id);
    else if (verdict === false) (state.closed ? outcome.interrupted : outcome.nacked).push(message.id);
    else if (notSent.has(message.id)) continue;
    else (state.closed ? outcome.interrupted : outcome.timedOut).push(message.id);
  }
  if (traced) {
    for (const id of outcome.confirmed) traced.end(id);
    for (const id of outcome.nacked) traced.end(id, 'broker nack');
    for (const id of outcome.timedOut) traced.end(id, 'confirm timeout');
    for (const id of outcome.interrupted) traced.end(id, 'channel closed before the confirm');
  }
  return outcome;
}
