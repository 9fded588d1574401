// The public API. Everything else is internal (package.json "exports" has only this entry).
export { OutboxError, isOutboxError, type OutboxErrorCode, type OutboxIssue } from './errors.js';
export { defineEvent, type EventDefinition, type EventPayload, type EventPayloadInput } from './outbox/defineEvent.js';
export { createEventCatalog, type EventCatalog } from './outbox/eventCatalog.js';
export {
  createOutbox,
  type Outbox,
  type OutboxOptions,
  type OutboxMessageInput,
  type EventRef,
  type PayloadOf,
} from './outbox/createOutbox.js';
export { outboxExtension } from './outbox/outboxExtension.js';
export type { PublishOptions } from './outbox/publishOptions.js';
export type { TransactionClient, RootClientRefused } from './outbox/transactionClient.js';
export { migrateDatabase, type MigrateDatabaseOptions, type MigrateDatabaseResult } from './migrations/migrateDatabase.js';
export {
  createRelay,
  type Relay,
  type RelayBatchReport,
  type RelayRunReport,
  type RelayEvents,
} from './relay/createRelay.js';
export type { RelayOptions } from './relay/relayOptions.js';
export {
  defineConsumer,
  type ConsumerDefinition,
  type ConsumerFactory,
  type SubscribedEvents,
  type HandlerContext,
  type ReceivedEvent,
  type DeadLetter,
} from './consumers/defineConsumer.js';
export { createWorker, type Worker, type WorkerOptions } from './consumers/createWorker.js';
export { NonRetryableError } from './consumers/nonRetryableError.js';
export { defineConfig, type OutboxConfig, type WorkerSettings } from './config/defineConfig.js';
export { livePgPoolConfig, type LivePgPoolOptions } from './database/connectionSettings.js';
export {
  createReconciler,
  type Reconciler,
  type ReconcilerOptions,
  type ReconcileReport,
  type ConsumerReconciliation,
} from './reconciler/createReconciler.js';
