// Deliberate backfill: stored events of a time window sent again to one consumer's
// queue (the outbox table as an event store). Throttled; idempotent, since the
// consumer's inbox skips what it already did (and those are not even sent).
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { ConfirmChannel } from 'amqplib';
import type { ResolvedConsumer } from '../catalog/defineConsumer.js';
import { matchesTopic, typesMatching } from '../catalog/topicPattern.js';
import { HEADER_REPLAYED_AT } from '../broker/wireFormat.js';
import { finishedBy } from '../database/owedMessages.js';
import type { QueryRows } from '../database/sqlStore.js';
import { STORED_MESSAGE_COLUMNS, type StoredMessage } from '../database/storedMessage.js';
import { createRateLimiter } from '../timing/rateLimiter.js';
import { republishToConsumer } from '../broker/republishToConsumer.js';
import { consumerEntry } from '../broker/consumerTopology.js';

export interface ReplayWindow {
  since: Date;
  until?: Date;
  /** Narrows the consumer's own patterns further, e.g. "order.*". */
  typePattern?: string;
}

/** Returns the ids sent, in write order. Parameters of each page: consumer, types, since, until, after seq, page size. */
export async function replayEvents(
  query: QueryRows,
  channel: ConfirmChannel,
  consumer: ResolvedConsumer,
  catalogTypes: readonly string[],
  window: ReplayWindow,
  options: { ratePerSecond: number; appId: string; pageSize?: number },
): Promise<string[]> {
  const types = typesMatching(consumer.events, catalogTypes).filter((type) => !window.typePattern || matchesTopic(window.typePattern, type));
  const rateLimiter = createRateLimiter(options.ratePerSecond);
  const replayedAt = new Date().toISOString();
  const sent: string[] = [];
  for (let after = '0'; ;) {
    const page = await query<StoredMessage>(sql`
      SELECT ${STORED_MESSAGE_COLUMNS}
        FROM outbox_message m
       WHERE m.seq > ${after}::bigint
         AND m.status = 'published'
         AND m.event_type = ANY(${types}::varchar[])
         AND m.created_at >= ${window.since}::timestamptz
         AND (${window.until ?? null}::timestamptz IS NULL OR m.created_at < ${window.until ?? null}::timestamptz)
         AND NOT ${finishedBy(sql`${consumer.name}`)}
       ORDER BY m.seq
       LIMIT ${options.pageSize ?? 500}`);
    if (page.length === 0) return sent;
    // In write order: per-key order holds for the replay too.
    await republishToConsumer(channel, consumerEntry(consumer), page, { header: HEADER_REPLAYED_AT, value: replayedAt, appId: options.appId }, rateLimiter);
    sent.push(...page.map((message) => message.id));
    after = page[page.length - 1]!.seq;
  }
}
