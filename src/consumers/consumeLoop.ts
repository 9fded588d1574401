// The worker's consuming: one channel per consumer (its prefetch, its concurrency)
// on the broker connection, the whole set opened again after every reconnect, until
// stop(). Anything that would leave a consumer silently not consuming (a channel
// closed by an error, a consumer cancelled by the broker, half a set opened) starts
// the connection afresh instead.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { BrokerConnection } from '../broker/brokerConnection.js';
import type { Logger } from '../logging/createLogger.js';
import { backoffDelay } from '../timing/backoffDelay.js';
import { sleep } from '../timing/sleep.js';
import type { createConcurrencyLimiter } from './concurrencyLimiter.js';
import type { ResolvedConsumer } from '../catalog/defineConsumer.js';
import type { DeliveryRunner } from './runDelivery.js';
import type { GroupRunner } from './runDeliveryGroup.js';
import type { WorkerHealth } from './workerHealth.js';
import { consumedQueues } from '../broker/consumerTopology.js';
import { HEADER_ORDERING_KEY } from '../broker/wireFormat.js';

/** The delivery's ordering key header, if it has one (the inbox checks the stored row's; this only paces the worker). */
function orderingKeyOf(message: ConsumeMessage): string | undefined {
  const key: unknown = message.properties.headers?.[HEADER_ORDERING_KEY];
  return typeof key === 'string' ? key : undefined;
}

export interface ConsumeLoopContext {
  broker: BrokerConnection;
  consumers: readonly ResolvedConsumer[];
  limiters: ReadonlyMap<string, ReturnType<typeof createConcurrencyLimiter>>;
  runDelivery: DeliveryRunner;
  runGroup: GroupRunner;
  health: WorkerHealth;
  logger: Logger;
  errorFor(error: unknown): Error;
}

/** Resolves when `model` closes or `signal` aborts, whichever comes first. */
function untilClosedOrAborted(model: ChannelModel, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      model.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    model.once('close', done);
    // stop() may have come while the channels were being opened.
    if (signal.aborted) done();
    else signal.addEventListener('abort', done, { once: true });
  });
}

export function createConsumeLoop(context: ConsumeLoopContext) {
  const { broker, consumers, limiters, runDelivery, runGroup, health, logger, errorFor } = context;
  let open: Channel[] = [];

  async function consumeOnce(model: ChannelModel, signal: AbortSignal): Promise<void> {
    // Declares the topology (on the confirm channel) before consuming from it.
    await broker.confirmChannel(signal);
    const channels: { channel: Channel; tag: string }[] = [];
    const startAfresh = () => {
      if (!signal.aborted) model.close().catch(() => {});
    };
    try {
      for (const consumer of consumers) {
        const channel = await model.createChannel();
        channel.on('error', (error: Error) => logger.warn({ err: errorFor(error), consumer: consumer.name }, 'consumer channel error'));
        // A consumer channel closed on its own (a channel error) would silently stop its consumer.
        channel.on('close', startAfresh);
        // Deliveries of a closed channel still waiting for a slot are not run: the broker
        // redelivers them on the next channel, and an ack on this one cannot be sent.
        let closed = false;
        channel.on('close', () => (closed = true));
        await channel.prefetch(consumer.prefetch);
        const limiter = limiters.get(consumer.name)!;
        // Batched: each delivery queues a task as usual, and a task that gets a slot takes
        // every delivery waiting then (up to batchSize), its own first if still there. So
        // groups grow with the backlog and an idle consumer waits one turn of the event
        // loop at most (for the rest of a burst read from the same socket read); a task
        // whose delivery an earlier group took has nothing left to do.
        const waiting: ConsumeMessage[] = [];
        const runWaiting = async (): Promise<void> => {
          await nextTurn();
          const group = waiting.splice(0, consumer.batchSize);
          if (closed || group.length === 0) return;
          return group.length === 1 ? runDelivery(channel, consumer, group[0]!, () => !closed) : runGroup(channel, consumer, group, () => !closed);
        };
        // An ordered consumer's partitions: the broker makes one worker at a time the active
        // consumer of each; here a key's deliveries run one after another.
        for (const queue of consumedQueues(consumer)) {
          const { consumerTag } = await channel.consume(queue, (message) => {
            if (message && consumer.batchSize > 1) {
              waiting.push(message);
              limiter.run(runWaiting);
              return;
            }
            if (message) {
              limiter.run(
                (pause) => (closed ? Promise.resolve() : runDelivery(channel, consumer, message, () => !closed, pause)),
                consumer.ordered ? orderingKeyOf(message) : undefined,
              );
              return;
            }
            // Cancelled by the broker (its queue deleted): re-declared and consumed again on a fresh connection.
            logger.warn({ consumer: consumer.name, queue }, 'consumer cancelled by the broker; reconnecting');
            startAfresh();
          });
          channels.push({ channel, tag: consumerTag });
        }
      }
    } catch (error) {
      // Half a set of consumers is not a state to keep.
      startAfresh();
      throw error;
    }
    open = [...new Set(channels.map(({ channel }) => channel))];
    health.broker.succeeded();
    logger.info({ consumers: consumers.map((consumer) => consumer.name) }, 'consuming');
    await untilClosedOrAborted(model, signal);
    if (signal.aborted) {
      // Stop taking deliveries; those already prefetched but not started are requeued when the channel closes.
      await Promise.all(channels.map(({ channel, tag }) => channel.cancel(tag).catch(() => {})));
    } else {
      health.broker.failed(new Error('broker connection lost'));
    }
  }

  return {
    /** Consumes until `signal` aborts, reconnecting with backoff whenever it must. */
    async run(signal: AbortSignal): Promise<void> {
      let failures = 0;
      while (!signal.aborted) {
        try {
          const model = await broker.connection(signal);
          await consumeOnce(model, signal);
          failures = 0;
        } catch (error) {
          if (signal.aborted) break;
          health.broker.failed(error);
          failures += 1;
          if (failures === 1) logger.warn({ err: errorFor(error) }, 'worker could not consume (broker unavailable or topology refused); retrying');
          await sleep(backoffDelay(failures, { initialMs: 200, maxMs: 15_000 }), signal);
        }
      }
    },
    /** The consumer channels of the current connection: stop() closes them before the connection. */
    channels(): Channel[] {
      return open;
    },
  };
}
