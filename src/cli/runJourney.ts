// `outbox journey <message id | ordering key | correlation id>`: is this event's side
// effect done, and if not, why (the console's journey, in the terminal).
import { parseArgs } from 'node:util';
import { sqltag as sql } from '@prisma/client/runtime/client';
import { resolveConsumer } from '../catalog/defineConsumer.js';
import { typesMatching } from '../catalog/topicPattern.js';
import { findConfigFile, loadConfig } from '../config/loadConfig.js';
import { createPgSqlStore } from '../database/sqlStore.js';
import { OutboxError } from '../errors.js';
import { findJourneys, type JourneyConsumerSpec, type MessageJourney } from '../operations/messageJourney.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
import { JSON_OPTION, writeReport } from './writeReport.js';

export const JOURNEY_USAGE = `  journey <search>  A message's journey, by message id, ordering key or correlation id: the
            outbox row (published? attempts, error) and per consumer its inbox status, attempts,
            last error, re-publishes (DATABASE_URL)
            --config <path>      its consumers and what they are owed (default ./outbox.config.ts;
                                 without one, the consumers that received the message)   --json`;

function describe(message: MessageJourney): string {
  const lines = [
    `${message.id}  ${message.eventType} v${message.eventVersion}  key ${message.orderingKey ?? '-'}  correlation ${message.correlationId ?? '-'}`,
    `  written ${message.createdAt}; relay: ${message.status}${message.publishedAt ? ` at ${message.publishedAt}` : ''}` +
      (message.attempts > 0 ? ` (${message.attempts} unconfirmed attempt(s), last: ${message.lastError})` : ''),
  ];
  for (const consumer of message.consumers) {
    lines.push(
      `  ${consumer.consumer}: ${consumer.status}` +
        (consumer.attempts > 0 ? `, ${consumer.attempts} attempt(s)` : '') +
        (consumer.doneAt ? `, done at ${consumer.doneAt}` : '') +
        (consumer.lastError ? `, last error: ${consumer.lastError}` : '') +
        (consumer.rescheduled ? `, re-published ${consumer.rescheduled.count}x by the reconciler` : ''),
    );
  }
  if (message.consumers.length === 0) lines.push('  no consumer is owed it');
  return lines.join('\n');
}

export async function runJourney(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: { config: { type: 'string' }, ...JSON_OPTION }, allowPositionals: true, strict: true });
  const search = positionals[0]?.trim();
  if (!search || positionals.length > 1 || search.length > 255) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'usage: outbox journey <message id | ordering key | correlation id>');
  }
  const store = createPgSqlStore(readDatabaseUrl(), { applicationName: 'outbox-journey' });
  try {
    const configFile = await findConfigFile(values.config);
    let consumers: JourneyConsumerSpec[];
    if (configFile) {
      const config = await loadConfig(configFile);
      const catalogTypes = [...new Set(config.events.map((event) => event.type))];
      consumers = config.consumers.map(resolveConsumer).map((consumer) => ({ name: consumer.name, eventTypes: typesMatching(consumer.events, catalogTypes) }));
    } else {
      // Without a config, what each consumer is owed is unknown: those that received it show.
      const registered = await store.query<{ name: string }>(sql`SELECT name FROM outbox_consumer ORDER BY name`);
      consumers = registered.map((row) => ({ name: row.name, eventTypes: [] }));
    }
    const found = await findJourneys(store.query, search, consumers);
    writeReport(
      values.json,
      found,
      found.messages.length === 0
        ? `no message with the id, ordering key or correlation id ${JSON.stringify(search)}`
        : `${found.messages.length} message(s), matched by ${found.matchedBy}\n\n${found.messages.map(describe).join('\n\n')}`,
    );
  } finally {
    await store.close();
  }
}
