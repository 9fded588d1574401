// `outbox retry-failed [--id <messageId>]...`: failed outbox rows back to pending.
import { parseArgs } from 'node:util';
import { OutboxError } from '../errors.js';
import { createPgSqlStore } from '../database/sqlStore.js';
import { cliActor } from '../operations/auditLog.js';
import { retryFailedRows } from '../operations/operatorActions.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { JSON_OPTION, writeReport } from './writeReport.js';

export const RETRY_FAILED_USAGE = `  retry-failed  Return failed outbox rows to pending (DATABASE_URL).
            --id <messageId>     only this row (repeatable); default every failed row     --json
            (written to the audit log, outbox_audit_log)`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function runRetryFailed(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { id: { type: 'string', multiple: true }, ...JSON_OPTION }, strict: true });
  const ids = values.id;
  const invalid = ids?.find((id) => !UUID.test(id));
  if (invalid !== undefined) throw new OutboxError('OUTBOX_INVALID_OPTIONS', `--id ${JSON.stringify(invalid)} is not a message id (UUID)`);
  const store = createPgSqlStore(readDatabaseUrl(), { applicationName: 'outbox-retry-failed' });
  try {
    const retried = await retryFailedRows({ query: store.query, who: cliActor() }, ids);
    writeReport(values.json, { retried: retried.length, messageIds: retried }, `returned ${retried.length} failed message(s) to pending`);
  } finally {
    await store.close();
  }
}
