import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { serializeError } from './serializeError.js';

export type { Logger };

/**
 * The default logger: JSON lines on stderr at LOG_LEVEL (info), written
 * synchronously (nothing is lost at process.exit), so that stdout carries only a
 * command's report. Errors under `err` keep type, message, stack and cause. Fields
 * that could carry credentials are redacted wherever they appear.
 */
export function createLogger(options: LoggerOptions = {}, destination: DestinationStream = pino.destination({ dest: 2, sync: true })): Logger {
  return pino(
    {
      level: process.env.LOG_LEVEL ?? 'info',
      redact: {
        paths: ['password', '*.password', 'databaseUrl', '*.databaseUrl', 'amqpUrl', '*.amqpUrl'],
        censor: '***',
      },
      ...options,
      serializers: { err: serializeError, ...options.serializers },
    },
    destination,
  );
}
