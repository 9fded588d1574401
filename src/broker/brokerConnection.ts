// One AMQP connection that comes back by itself: capped exponential backoff with
// jitter, failing over between the configured nodes, a log line per state change
// (never per retry), and a confirm channel re-created (with its topology) after
// every reconnect or channel error.
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { OutboxError } from '../errors.js';
import { createOutage, type Outage } from '../lifecycle/outage.js';
import type { Logger } from '../logging/createLogger.js';
import { loggableError } from '../logging/loggableError.js';
import { redactUrl } from '../logging/redactUrl.js';
import { withTimeout } from '../timing/bounded.js';
import { sleep } from '../timing/sleep.js';

export interface BrokerConnectionOptions {
  urls: string[];
  logger: Logger;
  /** Shown in the management console's connection list. */
  connectionName: string;
  /** Declares what the channel's user needs (exchanges, queues); runs on every new channel. */
  setupChannel?: (channel: ConfirmChannel) => Promise<void>;
  reconnect?: { initialMs?: number; maxMs?: number };
}

/** A connect that has not completed its AMQP handshake by then is abandoned and retried. */
const CONNECT_TIMEOUT_MS = 10_000;

export type BrokerState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export class BrokerConnection {
  readonly #options: BrokerConnectionOptions;
  #model: ChannelModel | undefined;
  #connecting: Promise<ChannelModel> | undefined;
  #channel: Promise<ConfirmChannel> | undefined;
  #urlIndex = 0;
  #state: BrokerState = 'connecting';
  #unavailableSince: number | undefined = Date.now();
  /** Why the last connect failed: the cause given when a bounded wait gives up. */
  #lastConnectError: unknown;
  readonly #closing = new AbortController();

  readonly #outage: Outage;

  constructor(options: BrokerConnectionOptions) {
    this.#options = options;
    this.#outage = createOutage({
      logger: options.logger,
      errorFor: (error) => this.#redact(error),
      startMessage: 'broker unreachable; retrying with backoff',
      backoff: { initialMs: options.reconnect?.initialMs ?? 200, maxMs: options.reconnect?.maxMs ?? 15_000 },
    });
  }

  get state(): BrokerState {
    return this.#state;
  }

  /** The open connection, or undefined while there is none (never connects: for readers that must not wait, like a scrape). */
  get current(): ChannelModel | undefined {
    return this.#state === 'connected' ? this.#model : undefined;
  }

  /** Since when there has been no open connection (undefined while connected): for health checks. */
  get unavailableSince(): number | undefined {
    return this.#unavailableSince;
  }

  /** The live confirm channel, connecting (and waiting as long as it takes) first. */
  async confirmChannel(signal?: AbortSignal): Promise<ConfirmChannel> {
    this.#channel ??= this.#openChannel(signal).catch((error: unknown) => {
      this.#channel = undefined;
      throw error;
    });
    return this.#channel;
  }

  /**
   * The confirm channel, waiting for the broker `waitMs` at most: then it fails with
   * OUTBOX_BROKER_UNREACHABLE, the last connect failure as its cause. For runs that
   * must end (relay --once, a reconciler run) rather than wait out an outage.
   */
  async confirmChannelWithin(waitMs: number, signal: AbortSignal): Promise<ConfirmChannel> {
    try {
      return await withTimeout(this.confirmChannel(AbortSignal.any([signal, AbortSignal.timeout(waitMs)])), waitMs, `no channel within ${waitMs} ms`);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw brokerUnreachable(`the broker was not reachable within ${Math.round(waitMs / 1000)} s`, this.#lastConnectError ?? error);
    }
  }

  /**
   * The live connection, connecting (and waiting as long as it takes) first. For
   * users that open channels of their own (consumers) and watch its 'close'.
   */
  connection(signal?: AbortSignal): Promise<ChannelModel> {
    return this.#connect(signal);
  }

  /** Drops the current channel (e.g. after a confirm timeout left it in an unknown state). */
  discardChannel(channel: ConfirmChannel): void {
    // A channel promise that failed (refused topology) has nothing to discard; its
    // rejection is the caller's, and must not come back here unhandled.
    void this.#channel?.then(
      (current) => {
        if (current !== channel) return;
        this.#channel = undefined;
        channel.close().catch(() => {});
      },
      () => {},
    );
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#closing.abort();
    const model = this.#model;
    this.#model = undefined;
    this.#channel = undefined;
    await model?.close().catch(() => {});
  }

  async #openChannel(signal?: AbortSignal): Promise<ConfirmChannel> {
    const model = await this.#connect(signal);
    const channel = await model.createConfirmChannel();
    channel.on('error', (error: Error) => {
      this.#options.logger.warn({ err: this.#redact(error) }, 'broker channel error');
    });
    channel.on('close', () => {
      // Also while setupChannel is still running on it: `#channel` is then the promise
      // of this very channel, about to fail (e.g. a queue declared with other
      // arguments closes it); that failure is reported to the caller, not here.
      void this.#channel?.then(
        (current) => {
          if (current === channel) this.#channel = undefined;
        },
        () => {},
      );
    });
    await this.#options.setupChannel?.(channel);
    return channel;
  }

  #connect(signal?: AbortSignal): Promise<ChannelModel> {
    if (this.#model) return Promise.resolve(this.#model);
    this.#connecting ??= this.#connectWithRetry(signal).finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connectWithRetry(signal?: AbortSignal): Promise<ChannelModel> {
    const { urls, connectionName } = this.#options;
    const stop = signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
    // Loaded on first connect, not with the package: an app that only publishes never loads it.
    const { default: amqp } = await import('amqplib');
    for (let attempt = 1; ; attempt += 1) {
      if (stop.aborted) throw new Error('broker connection closed');
      const url = urls[this.#urlIndex % urls.length]!;
      try {
        // noDelay: a confirm or a small publish is not held back by Nagle's algorithm.
        // timeout: a connect (TCP and AMQP handshake) into a network that swallows
        // packets fails instead of waiting forever; once open, the heartbeat (in the
        // URL, see parseAmqpUrls) notices a peer that went silent.
        const model = await amqp.connect(url, {
          noDelay: true,
          timeout: CONNECT_TIMEOUT_MS,
          keepAlive: true,
          keepAliveDelay: 10_000,
          clientProperties: { connection_name: connectionName },
        });
        if (this.#state === 'closed') {
          await model.close().catch(() => {});
          throw new Error('broker connection closed');
        }
        this.#adopt(model, url, attempt);
        return model;
      } catch (error) {
        if (this.#state === 'closed') throw error;
        this.#lastConnectError = error;
        this.#state = 'disconnected';
        this.#urlIndex += 1;
        // One line per outage (none after a lost connection, already told), not per attempt.
        await sleep(this.#outage.failed(error, { broker: redactUrl(url) }), stop);
      }
    }
  }

  #adopt(model: ChannelModel, url: string, attempts: number): void {
    const { logger } = this.#options;
    this.#model = model;
    this.#state = 'connected';
    this.#unavailableSince = undefined;
    this.#lastConnectError = undefined;
    this.#outage.succeeded();
    logger.info({ broker: redactUrl(url), attempts }, 'broker connected');
    model.on('error', (error: Error) => logger.debug({ err: this.#redact(error) }, 'broker connection error'));
    model.on('blocked', (reason: string) => logger.warn({ reason }, 'broker blocked publishing (resource alarm)'));
    model.on('unblocked', () => logger.info('broker unblocked publishing'));
    model.on('close', (error?: Error) => {
      if (this.#model !== model) return;
      this.#model = undefined;
      this.#channel = undefined;
      if (this.#state === 'closed') return;
      this.#state = 'disconnected';
      this.#unavailableSince = Date.now();
      logger.warn({ broker: redactUrl(url), err: error && this.#redact(error) }, 'broker connection lost; reconnecting');
      this.#outage.began();
    });
  }

  /** The error to log: its type, message, stack and cause kept, passwords of the URLs hidden. */
  #redact(error: unknown): Error {
    return loggableError(error, this.#options.urls);
  }
}

/** OUTBOX_BROKER_UNREACHABLE, saying what could not be done and why (an OutboxError, e.g. a topology conflict, is kept as it is). */
export function brokerUnreachable(what: string, cause: unknown): OutboxError {
  if (cause instanceof OutboxError) return cause;
  return new OutboxError('OUTBOX_BROKER_UNREACHABLE', `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}
