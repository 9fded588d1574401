// Names and durations several components share: one place, so the relay, the
// worker, the reconciler and `outbox status` never drift apart.

/** The topic exchange events are published to. */
export const DEFAULT_EXCHANGE = 'outbox.events';
/** The alternate exchange, and its queue, for events no consumer queue was bound for. */
export const DEFAULT_UNROUTABLE_EXCHANGE = 'outbox.unroutable';
/** The dead-letter exchange the consumers' queues dead-letter through. */
export const DEFAULT_DEAD_LETTER_EXCHANGE = 'outbox.dlx';
/** Owed messages younger than this may still be on their way: not judged lost yet. */
export const DEFAULT_GRACE_MS = 15 * 60_000;
/** Messages older than this are no longer owed to anyone. */
export const DEFAULT_HORIZON_MS = 7 * 24 * 3_600_000;
/** Due pending rows older than this mean the relay is behind or down. */
export const DEFAULT_STALE_PENDING_MS = 5 * 60_000;
