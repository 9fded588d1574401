/** Headers the worker adds to a message it dead-letters. */
export const HEADER_DEAD_REASON = 'outbox-dead-reason';
export const HEADER_DEAD_ERROR = 'outbox-dead-error';
export const HEADER_DEAD_CONSUMER = 'outbox-dead-consumer';
export const HEADER_DEAD_AT = 'outbox-dead-at';
