// `outbox replay --consumer <name> --since <time> [--until <time>] [--type <pattern>]`.
import { parseArgs } from 'node:util';
import { connectFirstNode } from '../broker/connectFirstNode.js';
import { loadConfig, requireConfigFile } from '../config/loadConfig.js';
import { resolveConsumer } from '../catalog/defineConsumer.js';
import { OutboxError } from '../errors.js';
import { replayEvents } from '../operations/replayEvents.js';
import { prismaQueryRows } from '../database/sqlStore.js';
import { flag, readFlags } from './commandFlags.js';
import { readAmqpUrl } from './readAmqpUrl.js';
import { JSON_OPTION, writeReport } from './writeReport.js';

export const REPLAY_USAGE = `  replay    Backfill stored events to one consumer's queue (skipping what it already did).
            --consumer <name> --since <ISO time> [--until <ISO time>] [--type <pattern>]
            --rate <n>           publishes per second, default 200     --config <path>     --json`;

export async function runReplay(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      consumer: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      type: { type: 'string' },
      rate: { type: 'string', default: '200' },
      ...JSON_OPTION,
    },
    strict: true,
  });
  if (!values.consumer || !values.since) throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'replay needs --consumer <name> and --since <ISO time>');
  const flags = readFlags(values, { since: flag.time(), until: flag.time().optional(), rate: flag.rate() });
  const config = await loadConfig(await requireConfigFile(values.config));
  const definition = config.consumers.find((consumer) => consumer.name === values.consumer);
  if (!definition) throw new OutboxError('OUTBOX_INVALID_OPTIONS', `no consumer ${JSON.stringify(values.consumer)} in ${values.config}`);
  const window = {
    since: flags.since,
    ...(flags.until ? { until: flags.until } : {}),
    ...(values.type ? { typePattern: values.type } : {}),
  };
  const connection = await connectFirstNode(readAmqpUrl(), 'outbox-replay');
  const channel = await connection.createConfirmChannel();
  // A refused publish closes the channel with an 'error' event; the awaited call reports it.
  channel.on('error', () => {});
  try {
    const ids = await replayEvents(
      prismaQueryRows(await config.prismaClient()),
      channel,
      resolveConsumer(definition),
      [...new Set(config.events.map((event) => event.type))],
      window,
      { ratePerSecond: flags.rate, appId: 'outbox-replay' },
    );
    writeReport(values.json, { consumer: values.consumer, replayed: ids.length, messageIds: ids }, `replayed ${ids.length} event(s) to ${values.consumer}`);
  } finally {
    await channel.close().catch(() => {});
    await connection.close().catch(() => {});
  }
}
