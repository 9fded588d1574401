// `outbox parked list|retry|skip <consumer>`: an ordered consumer's parked keys.
import { parseArgs } from 'node:util';
import { connectFirstNode } from '../broker/connectFirstNode.js';
import { createPgSqlStore } from '../database/sqlStore.js';
import { OutboxError } from '../errors.js';
import { cliActor } from '../operations/auditLog.js';
import { listParkedKeys, resumeParkedKey, type ResumedKey } from '../operations/parkedKeys.js';
import { flag, readFlags } from './commandFlags.js';
import { readAmqpUrl } from './readAmqpUrl.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { JSON_OPTION, writeReport } from './writeReport.js';

export const PARKED_USAGE = `  parked list <consumer>  An ordered consumer's parked keys        --key <k>   --limit <n> (1000)
  parked retry <consumer> Handle the parked message again, then the key's later ones, in order
            --key <k>            one key (default: every parked key of the consumer)
  parked skip <consumer>  Skip the parked message (recorded), go on with the key's next
            --key <k> --reason <why> [--by <who>] (default: the OS user)     --json   the report as JSON`;

export async function runParked(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      key: { type: 'string' },
      reason: { type: 'string' },
      by: { type: 'string' },
      limit: { type: 'string', default: '1000' },
      ...JSON_OPTION,
    },
    allowPositionals: true,
    strict: true,
  });
  const flags = readFlags(values, { limit: flag.count() });
  const [action, consumer] = positionals;
  if (!action || !['list', 'retry', 'skip'].includes(action) || !consumer) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'usage: outbox parked list|retry|skip <consumer> [--key <k>]');
  }
  if (action === 'skip' && (!values.key || !values.reason?.trim())) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'parked skip needs --key <k> and --reason <why> (both are recorded)');
  }
  const store = createPgSqlStore(readDatabaseUrl(), { applicationName: 'outbox-parked' });
  try {
    if (action === 'list') {
      const parked = await listParkedKeys(store.query, consumer, values.key, flags.limit);
      if (values.json) writeReport(true, parked, '');
      else if (parked.length === 0) process.stdout.write(`${consumer}: no parked keys\n`);
      else console.table(parked.map(({ consumer: _consumer, ...row }) => ({ ...row, parkedAt: row.parkedAt.toISOString() })));
      return;
    }
    const keys = values.key ? [values.key] : (await listParkedKeys(store.query, consumer, undefined, flags.limit)).map((row) => row.orderingKey);
    const connection = await connectFirstNode(readAmqpUrl(), 'outbox-parked');
    const channel = await connection.createConfirmChannel();
    channel.on('error', () => {});
    const resumed: ResumedKey[] = [];
    try {
      for (const orderingKey of keys) {
        const skip = action === 'skip' ? { by: values.by ?? cliActor().actor, reason: values.reason!.trim() } : undefined;
        resumed.push(await resumeParkedKey({ store, channel, consumer, orderingKey, ...(skip ? { skip } : {}), appId: 'outbox-parked' }));
      }
    } finally {
      await channel.close().catch(() => {});
      await connection.close().catch(() => {});
    }
    const sent = resumed.reduce((sum, key) => sum + key.resent.length, 0);
    const text =
      action === 'skip'
        ? `skipped ${resumed[0]!.skipped} on key ${keys[0]}; sent ${sent} later message(s) again, in order`
        : `resumed ${resumed.length} key(s) of ${consumer}; sent ${sent} message(s) again, in order`;
    writeReport(values.json, { consumer, action, keys: resumed }, text);
  } finally {
    await store.close();
  }
}
