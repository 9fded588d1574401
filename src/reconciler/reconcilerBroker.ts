// The reconciler's use of the broker: connected only when a run has something to
// re-publish, and never waited for without end. A run that cannot reach the broker
// within `waitMs` fails (typed), and the next scheduled run tries again.
import type { ConfirmChannel } from 'amqplib';
import { BrokerConnection, brokerUnreachable } from '../broker/brokerConnection.js';
import { declareConsumerTopology, type WorkerTopology } from '../broker/consumerTopology.js';
import type { ResolvedConsumer } from '../catalog/defineConsumer.js';
import type { Logger } from '../logging/createLogger.js';
import { withTimeout } from '../timing/bounded.js';

export interface ReconcilerBroker {
  /** The confirm channel (the consumers' queues declared on it). */
  confirmChannel(signal: AbortSignal): Promise<ConfirmChannel>;
  /** Messages ready in the queue (a passive declare, on a channel of its own: a failed one closes its channel); null if it does not exist. */
  queueDepth(queue: string, signal: AbortSignal): Promise<number | null>;
  /** Drops a channel left in an unknown state (confirms that never came, a queue deleted under it). */
  discard(channel: ConfirmChannel): Promise<void>;
  close(): Promise<void>;
}

export interface ReconcilerBrokerOptions {
  urls: string[];
  logger: Logger;
  consumers: readonly ResolvedConsumer[];
  topology: WorkerTopology;
  /** How long a run waits for the broker before it fails. */
  waitMs: number;
}

export function createReconcilerBroker(options: ReconcilerBrokerOptions): ReconcilerBroker {
  let broker: BrokerConnection | undefined;
  const connection = () =>
    (broker ??= new BrokerConnection({
      urls: options.urls,
      logger: options.logger,
      connectionName: `reconciler-${process.pid}`,
      // The consumers' queues exist even if someone deleted them: a re-published message is never unroutable.
      setupChannel: async (channel) => {
        for (const consumer of options.consumers) await declareConsumerTopology(channel, options.topology, consumer);
      },
    }));
  const waiting = (signal: AbortSignal) => AbortSignal.any([signal, AbortSignal.timeout(options.waitMs)]);
  return {
    confirmChannel: (signal) => connection().confirmChannelWithin(options.waitMs, signal),
    async queueDepth(queue, signal) {
      const open = async () => {
        const model = await connection().connection(waiting(signal));
        const channel = await model.createChannel();
        channel.on('error', () => {});
        try {
          return (await channel.checkQueue(queue)).messageCount;
        } catch (error) {
          if ((error as { code?: unknown }).code === 404) return null;
          throw error;
        } finally {
          channel.close().catch(() => {});
        }
      };
      try {
        return await withTimeout(open(), options.waitMs, `no answer about queue ${queue} within ${options.waitMs} ms`);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw brokerUnreachable(`the depth of queue ${queue} could not be read`, error);
      }
    },
    async discard(channel) {
      broker?.discardChannel(channel);
      // It lets go of the channel a moment later: the next confirmChannel() opens a new one.
      await new Promise((resolve) => setImmediate(resolve));
    },
    async close() {
      await broker?.close();
      broker = undefined;
    },
  };
}
