/**
 * Thrown by a handler to say "retrying cannot help" (a permanent refusal by a
 * provider, an invariant broken): the message goes to the dead-letter queue at
 * once instead of through the retry delays.
 */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError';
}
