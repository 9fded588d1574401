// Publishes stored messages again to one consumer only (its work queue through the
// default exchange, or an ordered consumer's partition exchange): same message ids and properties as the
// relay's, plus a header saying why. Confirms streamed; every broker verdict is
// collected as data, never as a rejected promise, so a connection lost mid-way
// (its unconfirmed callbacks all fail at once) cannot surface as an unhandled
// rejection while the loop waits for the rate limiter or for the socket to drain.
import type { ConfirmChannel } from 'amqplib';
import type { StoredMessage } from '../database/storedMessage.js';
import { messageProperties } from './wireFormat.js';
import type { ConsumerEntry } from './consumerTopology.js';
import type { RateLimiter } from '../timing/rateLimiter.js';

export interface RepublishMarker {
  header: string;
  value: string;
  appId: string;
}

export interface RepublishOutcome {
  /** Confirmed (ack) by the broker, in the order given. */
  confirmed: string[];
  /** Not confirmed: nacked, unanswered when the channel closed or by the deadline, or never sent. */
  unconfirmed: string[];
  /** Why not all were confirmed; undefined when all were. */
  stoppedBy?: 'channel-closed' | 'nacked' | 'deadline' | 'aborted';
}

export interface RepublishOptions {
  /** How long to wait for the last confirms once everything is sent. Default 30 s. */
  confirmTimeoutMs?: number;
  /** Stops sending (what was sent is still awaited up to the deadline). */
  signal?: AbortSignal;
}

/** In order, confirms streamed, back-pressure respected; never throws. */
export async function republishMessages(
  channel: ConfirmChannel,
  entry: ConsumerEntry,
  messages: readonly StoredMessage[],
  marker: RepublishMarker,
  rateLimiter: RateLimiter,
  options: RepublishOptions = {},
): Promise<RepublishOutcome> {
  const timeoutMs = options.confirmTimeoutMs ?? 30_000;
  const verdicts = new Map<string, boolean>();
  let unanswered = 0;
  let closed = false;
  let drained = false;
  let expired = false;
  let wake: (() => void) | undefined;
  const onClose = () => {
    closed = true;
    wake?.();
  };
  const onDrain = () => {
    drained = true;
    wake?.();
  };
  const onAbort = () => wake?.();
  channel.on('close', onClose);
  channel.on('drain', onDrain);
  options.signal?.addEventListener('abort', onAbort);
  const aborted = () => options.signal?.aborted === true;
  const stopped = () => closed || expired || aborted();
  /** Until `condition` holds, the channel closes, `timeoutMs` passes (then `expired`), or (if `abortable`) the signal aborts. */
  const waitFor = (condition: () => boolean, abortable: boolean) =>
    new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(() => {
        expired = true;
        finish();
      }, timeoutMs);
      wake = () => {
        if (condition() || closed || (abortable && aborted())) finish();
      };
      wake();
    });
  let sent = 0;
  try {
    for (const message of messages) {
      if (rateLimiter.limited) await rateLimiter.take(options.signal);
      if (stopped()) break;
      const properties = messageProperties(message, marker.appId);
      properties.headers = { ...(properties.headers as Record<string, unknown>), [marker.header]: marker.value };
      let accepted: boolean;
      try {
        accepted = channel.publish(entry.exchange, entry.routingKey, Buffer.from(message.payload, 'utf8'), properties, (error: unknown) => {
          verdicts.set(message.id, error == null);
          unanswered -= 1;
          wake?.();
        });
      } catch {
        // amqplib throws on a channel already closing: the same as a close.
        closed = true;
        break;
      }
      unanswered += 1;
      sent += 1;
      if (!accepted) {
        // The socket's buffer is full: wait for it to drain (or the channel to close).
        drained = false;
        await waitFor(() => drained, true);
      }
    }
    // The confirms of everything sent (aborted or not: what went out is counted), up to
    // the deadline; a close fails them all at once.
    if (!closed && !expired) await waitFor(() => unanswered <= 0, false);
  } finally {
    channel.removeListener('close', onClose);
    channel.removeListener('drain', onDrain);
    options.signal?.removeEventListener('abort', onAbort);
    wake = undefined;
  }
  const confirmed = messages.filter((message) => verdicts.get(message.id) === true).map((message) => message.id);
  const unconfirmed = messages.filter((message) => verdicts.get(message.id) !== true).map((message) => message.id);
  if (unconfirmed.length === 0) return { confirmed, unconfirmed };
  const stoppedBy = closed ? 'channel-closed' : expired ? 'deadline' : sent < messages.length ? 'aborted' : 'nacked';
  return { confirmed, unconfirmed, stoppedBy };
}

/**
 * The same, for callers that need all or nothing (replay): resolves when every
 * message is confirmed, rejects (once, handled) otherwise.
 */
export async function republishToConsumer(
  channel: ConfirmChannel,
  entry: ConsumerEntry,
  messages: StoredMessage[],
  marker: RepublishMarker,
  rateLimiter: RateLimiter,
): Promise<void> {
  const outcome = await republishMessages(channel, entry, messages, marker, rateLimiter);
  if (outcome.stoppedBy) {
    throw new Error(
      `re-publish to ${entry.exchange || entry.routingKey}: ${outcome.unconfirmed.length} of ${messages.length} not confirmed (${outcome.stoppedBy})`,
    );
  }
}
