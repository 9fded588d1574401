import { OutboxError } from '../errors.js';

/** DATABASE_URL from the environment, checked to be a PostgreSQL URL. */
export function readDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const value = env.DATABASE_URL;
  if (!value) {
    throw new OutboxError('OUTBOX_INVALID_CONFIG', 'DATABASE_URL is not set (e.g. postgresql://user:password@host:5432/db)');
  }
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    throw new OutboxError('OUTBOX_INVALID_CONFIG', 'DATABASE_URL is not a valid URL');
  }
  if (protocol !== 'postgresql:' && protocol !== 'postgres:') {
    throw new OutboxError('OUTBOX_INVALID_CONFIG', `DATABASE_URL must be a postgresql:// URL, not ${protocol}//`);
  }
  return value;
}
