import { pino } from 'pino';

/**
 * pino's error serializer that keeps the cause as an error of its own: `type`,
 * `message`, `stack` and `cause` (recursively), plus the error's own fields such as
 * `code`. The default one folds causes into the message and stack text.
 */
export const serializeError = pino.stdSerializers.errWithCause;
