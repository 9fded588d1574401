import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The default logger: JSON lines on stdout at LOG_LEVEL (info). Fields that could
 * carry credentials are redacted wherever they appear.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: process.env.LOG_LEVEL ?? 'info',
    redact: {
      paths: ['password', '*.password', 'databaseUrl', '*.databaseUrl', 'amqpUrl', '*.amqpUrl'],
      censor: '***',
    },
    ...options,
  });
}
