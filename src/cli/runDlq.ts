// `outbox dlq list|replay|purge <consumer>`: a consumer's dead-letter queue.
import { parseArgs } from 'node:util';
import { cliActor } from '../operations/auditLog.js';
import { listConsumerDeadLetters, purgeConsumerDeadLetters, replayConsumerDeadLetters } from '../operations/operatorActions.js';
import { OutboxError } from '../errors.js';
import { createPgSqlStore, type SqlStore } from '../database/sqlStore.js';
import { flag, readFlags } from './commandFlags.js';
import { readAmqpUrl } from './readAmqpUrl.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { JSON_OPTION, writeReport } from './writeReport.js';

export const DLQ_USAGE = `  dlq list <consumer>     Show dead letters (left in place)      --limit <n> (100)
  dlq replay <consumer>   Back to the work queue, attempt 1, inbox reopened (DATABASE_URL too)
            --id <messageId>     only this one (repeatable)     --all   every dead letter
  dlq purge <consumer>    Delete the consumer's dead letters
            --json               the report as JSON (list, replay, purge)
            replay and purge are written to the audit log (outbox_audit_log; purge when DATABASE_URL is set)`;

export async function runDlq(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { id: { type: 'string', multiple: true }, all: { type: 'boolean', default: false }, limit: { type: 'string', default: '100' }, ...JSON_OPTION },
    allowPositionals: true,
    strict: true,
  });
  const flags = readFlags(values, { limit: flag.count() });
  const [action, consumer] = positionals;
  if (!action || !['list', 'replay', 'purge'].includes(action) || !consumer) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'usage: outbox dlq list|replay|purge <consumer>');
  }
  if (action === 'replay' && !values.all && !values.id?.length) throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'dlq replay needs --id <messageId> or --all');
  const amqpUrl = readAmqpUrl();
  if (action === 'list') {
    const letters = (await listConsumerDeadLetters(amqpUrl, consumer, flags.limit)).map(
      ({ headers: _headers, correlationId: _correlationId, payload: _payload, payloadTruncated: _cut, ...summary }) => summary,
    );
    if (values.json) process.stdout.write(`${JSON.stringify(letters, null, 2)}\n`);
    else if (letters.length === 0) process.stdout.write(`${consumer}.dlq is empty\n`);
    else console.table(letters);
    return;
  }
  // Replay reopens inbox rows (DATABASE_URL required); purge is recorded when there is a database to record it in.
  const store: SqlStore | undefined =
    action === 'replay' || process.env.DATABASE_URL ? createPgSqlStore(readDatabaseUrl(), { applicationName: 'outbox-dlq' }) : undefined;
  const audit = store ? { query: store.query, who: cliActor() } : undefined;
  try {
    if (action === 'purge') {
      const purged = await purgeConsumerDeadLetters(amqpUrl, audit, consumer);
      writeReport(values.json, { consumer, purged }, `purged ${purged} dead letter(s) from ${consumer}.dlq`);
    } else {
      const replayed = await replayConsumerDeadLetters(amqpUrl, audit!, consumer, values.all ? 'all' : { messageIds: values.id ?? [] });
      writeReport(values.json, { consumer, replayed: replayed.length, messageIds: replayed }, `replayed ${replayed.length} dead letter(s) to ${consumer}`);
    }
  } finally {
    await store?.close();
  }
}
