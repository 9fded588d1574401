// The public API. Everything else is internal (package.json "exports" has only this entry).
export { OutboxError, isOutboxError, type OutboxErrorCode, type OutboxIssue } from './errors.js';
export { defineEvent, type EventDefinition, type EventPayload, type EventPayloadInput } from './catalog/defineEvent.js';
export type { EventCatalog } from './catalog/eventCatalog.js';
export { createOutbox, type Outbox, type OutboxOptions, type OutboxMessageInput, type EventRef, type PayloadOf } from './outbox/createOutbox.js';
export { outboxExtension } from './outbox/outboxExtension.js';
export type { PublishOptions } from './outbox/publishOptions.js';
export type { TransactionClient, RootClientRefused } from './database/transactionClient.js';
export { migrateDatabase, type MigrateDatabaseOptions, type MigrateDatabaseResult } from './migrations/migrateDatabase.js';
export { createRelay, type BatchPhases, type Relay, type RelayBatchReport, type RelayRunReport, type RelayEvents } from './relay/createRelay.js';
export type { RelayOptions } from './relay/relayOptions.js';
export {
  defineConsumer,
  outsideTransaction,
  type OutsideTransactionContext,
  type ConsumerDefinition,
  type ConsumerFactory,
  type SubscribedEvents,
  type HandlerContext,
  type ReceivedEvent,
  type DeadLetter,
  type ParkedKey,
} from './catalog/defineConsumer.js';
export { createWorker, type Worker, type WorkerOptions } from './consumers/createWorker.js';
export type { WorkerEvents, SettledDelivery } from './consumers/runDelivery.js';
export type { DeliveryOutcome } from './consumers/deliveryStats.js';
export { NonRetryableError } from './consumers/nonRetryableError.js';
export { defineConfig, type OutboxConfig, type WorkerSettings } from './config/defineConfig.js';
export { livePgPoolConfig, type LivePgPoolOptions } from './database/connectionSettings.js';
export {
  createReconciler,
  type Reconciler,
  type ReconcilerOptions,
  type ReconcileReport,
  type ConsumerReconciliation,
  type ReconcilerEvents,
} from './reconciler/createReconciler.js';
