// `outbox dlq list|replay|purge <consumer>`: a consumer's dead-letter queue.
import { parseArgs } from 'node:util';
import type { ChannelModel } from 'amqplib';
import { connectFirstNode } from '../broker/connectFirstNode.js';
import { consumerEntry, partitionExchangeName } from '../broker/consumerTopology.js';
import { listDeadLetters, purgeDeadLetters, replayDeadLetters } from '../consumers/deadLetterQueue.js';
import { OutboxError } from '../errors.js';
import { createPgSqlStore } from '../database/sqlStore.js';
import { flag, readFlags } from './commandFlags.js';
import { readAmqpUrl } from './readAmqpUrl.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { JSON_OPTION, writeReport } from './writeReport.js';

export const DLQ_USAGE = `  dlq list <consumer>     Show dead letters (left in place)      --limit <n> (100)
  dlq replay <consumer>   Back to the work queue, attempt 1, inbox reopened (DATABASE_URL too)
            --id <messageId>     only this one (repeatable)     --all   every dead letter
  dlq purge <consumer>    Delete the consumer's dead letters
            --json               the report as JSON (list, replay, purge)`;

/** Whether the exchange exists (an ordered consumer's partition exchange): a passive check, on a channel of its own (a miss closes it). */
async function hasExchange(connection: ChannelModel, exchange: string): Promise<boolean> {
  const probe = await connection.createChannel();
  probe.on('error', () => {});
  try {
    await probe.checkExchange(exchange);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) return false;
    throw error;
  } finally {
    await probe.close().catch(() => {});
  }
}

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
  const connection = await connectFirstNode(readAmqpUrl(), 'outbox-dlq');
  const channel = await connection.createConfirmChannel();
  // A refused operation (e.g. no such queue) closes the channel with an 'error' event; the awaited call reports it.
  channel.on('error', () => {});
  try {
    await channel.checkQueue(`${consumer}.dlq`).catch(() => {
      throw new OutboxError('OUTBOX_INVALID_OPTIONS', `no dead-letter queue ${consumer}.dlq (is "${consumer}" a consumer's name?)`);
    });
    if (action === 'list') {
      const letters = await listDeadLetters(channel, consumer, flags.limit);
      if (values.json) process.stdout.write(`${JSON.stringify(letters, null, 2)}\n`);
      else if (letters.length === 0) process.stdout.write(`${consumer}.dlq is empty\n`);
      else console.table(letters);
    } else if (action === 'purge') {
      const purged = await purgeDeadLetters(channel, consumer);
      writeReport(values.json, { consumer, purged }, `purged ${purged} dead letter(s) from ${consumer}.dlq`);
    } else {
      const store = createPgSqlStore(readDatabaseUrl(), { applicationName: 'outbox-dlq' });
      try {
        const entry = consumerEntry({ name: consumer, ordered: await hasExchange(connection, partitionExchangeName(consumer)) });
        const replayed = await replayDeadLetters(channel, store.query, consumer, entry, values.all ? 'all' : { messageIds: values.id ?? [] });
        writeReport(values.json, { consumer, replayed: replayed.length, messageIds: replayed }, `replayed ${replayed.length} dead letter(s) to ${consumer}`);
      } finally {
        await store.close();
      }
    }
  } finally {
    // The channel first: closing the connection alone can overtake the acks still
    // queued on the channel (seen: replayed dead letters left in the DLQ).
    await channel.close().catch(() => {});
    await connection.close().catch(() => {});
  }
}
