// The harness on the real broker: the library's own relay and worker, in-process, on
// a private vhost. drain() is told of every relay batch and every settled delivery,
// and reads the database after each: it resolves on the first read that finds
// nothing owed, and never before.
import { BrokerConnection } from '../broker/brokerConnection.js';
import { consumerEntry } from '../broker/consumerTopology.js';
import { republishMessages } from '../broker/republishToConsumer.js';
import { HEADER_REPLAYED_AT } from '../broker/wireFormat.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import { createWorker } from '../consumers/createWorker.js';
import type { DeliveryOutcome } from '../consumers/deliveryStats.js';
import type { SettledDelivery } from '../consumers/runDelivery.js';
import { OutboxError } from '../errors.js';
import { createRelay } from '../relay/createRelay.js';
import { redactUrl } from '../logging/redactUrl.js';
import { createRateLimiter } from '../timing/rateLimiter.js';
import type { HarnessCore } from './harnessCore.js';
import { describeOwed, isSettled, readCommitted } from './harnessRecords.js';
import type { RabbitTestHarness } from './harnessTypes.js';
import { createPrivateVhost } from './privateVhost.js';

const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** Something happened (a batch, a settled delivery): whoever waits for a change wakes. */
function createChangeSignal() {
  let waiters: (() => void)[] = [];
  return {
    notify() {
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake();
    },
    /** Resolves at the next notify(), or after `ms` at the latest. */
    next(ms: number): Promise<void> {
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          waiters = waiters.filter((each) => each !== done);
          resolve();
        }
        waiters.push(done);
      });
    },
  };
}

export async function createRabbitHarness<TEvents extends readonly EventDefinition[]>(core: HarnessCore<TEvents>): Promise<RabbitTestHarness<TEvents>> {
  const { settings, logger, query } = core;
  const vhost = await createPrivateVhost(settings.amqpUrl ?? process.env.AMQP_URL ?? DEFAULT_AMQP_URL);
  const changes = createChangeSignal();
  const settledListeners = new Set<(delivery: SettledDelivery) => void>();

  const worker = createWorker({
    prisma: core.prisma,
    amqpUrl: vhost.amqpUrls,
    events: core.catalog.events,
    consumers: core.definitions,
    logger,
    summaryIntervalMs: 0,
    drainTimeoutMs: 5_000,
    transactionTimeoutMs: settings.transactionTimeoutMs,
    workerId: `${vhost.name}-worker`,
    ...(core.hooks.onDeadLetter ? { onDeadLetter: core.hooks.onDeadLetter } : {}),
    ...(core.hooks.onParked ? { onParked: core.hooks.onParked } : {}),
  });
  // Polled often: a test's commit reaches the broker within one poll (NOTIFY would need a URL of its
  // own). One batch loop (maxInFlight = batchSize): a test needs no throughput, and the app's pool
  // is shared with its own queries and the worker's transactions.
  const relay = createRelay({
    prisma: core.prisma,
    amqpUrl: vhost.amqpUrls,
    pollIntervalMs: 20,
    batchSize: 200,
    maxInFlight: 200,
    summaryIntervalMs: 0,
    logger,
    relayId: `${vhost.name}-relay`,
  });
  worker.on('delivery:settled', (delivery) => {
    core.record({ consumer: delivery.consumer, messageId: delivery.messageId, eventType: delivery.eventType, outcome: delivery.outcome });
    for (const listener of settledListeners) listener(delivery);
    changes.notify();
  });
  relay.on('batch:published', () => changes.notify());
  relay.on('message:failed', () => changes.notify());
  // For deliver(): the harness's own connection to the vhost.
  const broker = new BrokerConnection({ urls: vhost.amqpUrls, logger, connectionName: `${vhost.name}-deliver` });

  let stopping: Promise<void> | undefined;
  async function shutDown(): Promise<void> {
    await Promise.allSettled([relay.stop(), worker.stop()]);
    await broker.close();
    try {
      await vhost.delete();
    } finally {
      await core.close();
    }
  }

  // The worker and the relay wait out a broker or database that is away; a test must not:
  // the start gives up after drainTimeoutMs.
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new OutboxError(
            'OUTBOX_HARNESS_SETUP_FAILED',
            `the test harness's worker and relay did not start within ${settings.drainTimeoutMs} ms: is RabbitMQ reachable at ${redactUrl(vhost.amqpUrls[0]!)}?`,
          ),
        ),
      settings.drainTimeoutMs,
    );
  });
  try {
    // Queues first, so that nothing the relay publishes is unroutable.
    await Promise.race([worker.start().then(() => relay.start()), gaveUp]);
  } catch (error) {
    await shutDown().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
    gaveUp.catch(() => {});
  }

  const ensureRunning = () => {
    if (stopping) throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'the test harness is stopped');
  };

  return {
    mode: 'rabbitmq',
    vhost: vhost.name,
    amqpUrl: vhost.amqpUrls[0]!,
    ...core.views,

    async drain() {
      ensureRunning();
      const deadline = Date.now() + settings.drainTimeoutMs;
      for (;;) {
        // Listening before reading: a change during the read is not missed.
        const changed = changes.next(Math.min(settings.drainRecheckMs, Math.max(1, deadline - Date.now())));
        const owed = await core.readOwed();
        if (isSettled(owed)) return;
        if (Date.now() >= deadline) {
          const slowRetries = settings.retryDelays
            ? ''
            : ' (retries wait their real delays in rabbitmq mode: createTestHarness({ retryDelays: [20] }) shortens them)';
          throw new OutboxError(
            'OUTBOX_DRAIN_TIMEOUT',
            `drain did not settle within drainTimeoutMs (${settings.drainTimeoutMs} ms)${slowRetries}; still owed:\n${describeOwed(owed)}`,
          );
        }
        await changed;
      }
    },

    async deliver(consumerName, messageId) {
      ensureRunning();
      const consumer = core.consumers.find((each) => each.name === consumerName);
      if (!consumer) throw new OutboxError('OUTBOX_INVALID_OPTIONS', `deliver: ${JSON.stringify(consumerName)} is not one of the harness's consumers`);
      const message = await readCommitted(query, messageId);
      // The first settlement of that delivery, whatever it came to (a retry, too, as in-memory).
      let listener: ((delivery: SettledDelivery) => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      const settled = new Promise<DeliveryOutcome>((resolve, reject) => {
        listener = (delivery) => {
          if (delivery.consumer === consumerName && delivery.messageId === messageId) resolve(delivery.outcome);
        };
        settledListeners.add(listener);
        timer = setTimeout(
          () => reject(new OutboxError('OUTBOX_DRAIN_TIMEOUT', `deliver: ${consumerName} did not settle ${messageId} within ${settings.drainTimeoutMs} ms`)),
          settings.drainTimeoutMs,
        );
      });
      try {
        const marker = { header: HEADER_REPLAYED_AT, value: new Date().toISOString(), appId: 'outbox-test-harness' };
        const outcome = await republishMessages(await broker.confirmChannel(), consumerEntry(consumer), [message], marker, createRateLimiter(0));
        if (outcome.stoppedBy) throw new Error(`deliver: the broker did not take the message (${outcome.stoppedBy})`);
        return await settled;
      } finally {
        clearTimeout(timer);
        settledListeners.delete(listener!);
        settled.catch(() => {});
      }
    },

    stop() {
      stopping ??= shutDown();
      return stopping;
    },
  };
}
