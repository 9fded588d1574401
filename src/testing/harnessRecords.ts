// The harness's view of the database, the same in both modes: the events committed
// since its baseline (an outbox seq), what each of its consumers' inbox says of them,
// and what is still owed. drain() settles when nothing is.
import { sqltag as sql } from '@prisma/client/runtime/client';
import { matchesTopic } from '../catalog/topicPattern.js';
import type { QueryRows } from '../database/sqlStore.js';
import { STORED_MESSAGE_COLUMNS, type StoredMessage } from '../database/storedMessage.js';
import { OutboxError } from '../errors.js';
import type { CommittedEvent } from './harnessTypes.js';

interface InboxEntry {
  consumer: string;
  status: 'processing' | 'done' | 'dead' | 'waiting' | 'parked' | 'skipped';
  attempts: number;
  lastError: string | null;
  doneAt: Date | null;
}

export interface ScopedEvent {
  event: CommittedEvent;
  /** Not before its availableAt: a delayed event is not owed yet. */
  due: boolean;
  /** The last publish error, for a row the relay retries or gave up on. */
  publishError: string | null;
  /** The harness's consumers' inbox rows for it, by consumer. */
  inbox: Map<string, InboxEntry>;
}

/** A side effect is settled once its inbox row says so; anything else (no row, processing, waiting) is owed. */
const SETTLED = new Set<InboxEntry['status']>(['done', 'dead', 'parked', 'skipped']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A committed outbox row as the relay would publish it, for deliver(). */
export async function readCommitted(query: QueryRows, messageId: string): Promise<StoredMessage> {
  if (!UUID.test(messageId)) throw new OutboxError('OUTBOX_INVALID_OPTIONS', `deliver: ${JSON.stringify(messageId)} is not a message id (a UUID)`);
  const [message] = await query<StoredMessage>(sql`SELECT ${STORED_MESSAGE_COLUMNS} FROM outbox_message m WHERE m.id = ${messageId}::uuid`);
  if (!message) throw new OutboxError('OUTBOX_INVALID_OPTIONS', `deliver: no outbox message ${messageId} (was its transaction committed?)`);
  return message;
}

/** Everything committed so far: the next scope starts after it. */
export async function readBaseline(query: QueryRows): Promise<string> {
  const [row] = await query<{ seq: string }>(sql`SELECT coalesce(max(seq), 0)::text AS "seq" FROM outbox_message`);
  return row!.seq;
}

/** A stored message (the relay's own columns) with what the scope adds. */
interface ScopeRow extends StoredMessage {
  status: CommittedEvent['status'];
  due: boolean;
  publishError: string | null;
  inbox: string;
}

/** The events after `baseline`, in write order, with the inbox rows of `consumers`. */
export async function readScope(query: QueryRows, baseline: string, consumers: readonly string[]): Promise<ScopedEvent[]> {
  const rows = await query<ScopeRow>(sql`
    SELECT ${STORED_MESSAGE_COLUMNS}, m.status::text AS "status", m.available_at <= now() AS "due", m.last_error AS "publishError",
           coalesce((SELECT json_agg(json_build_object('consumer', i.consumer, 'status', i.status, 'attempts', i.attempts,
                                                       'lastError', i.last_error, 'doneAt', i.done_at))
                       FROM outbox_inbox i WHERE i.message_id = m.id AND i.consumer = ANY(${consumers}::varchar[])), '[]')::text AS "inbox"
      FROM outbox_message m
     WHERE m.seq > ${baseline}::bigint
     ORDER BY m.seq`);
  return rows.map((row) => {
    const { correlationId, ...headers } = JSON.parse(row.headers) as Record<string, string | number | boolean>;
    const entries = JSON.parse(row.inbox) as (Omit<InboxEntry, 'doneAt'> & { doneAt: string | null })[];
    return {
      event: {
        id: row.id,
        type: row.eventType,
        version: row.eventVersion,
        payload: JSON.parse(row.payload) as unknown,
        orderingKey: row.orderingKey,
        correlationId: typeof correlationId === 'string' ? correlationId : undefined,
        headers,
        createdAt: row.createdAt,
        status: row.status,
      },
      due: row.due,
      publishError: row.publishError,
      inbox: new Map(entries.map((entry) => [entry.consumer, { ...entry, doneAt: entry.doneAt === null ? null : new Date(entry.doneAt) }])),
    };
  });
}

/** A consumer of the harness: its name and what it subscribes to. */
export interface Subscriber {
  name: string;
  events: readonly string[];
}

export interface OwedSideEffect {
  consumer: string;
  event: CommittedEvent;
  /** Its inbox row, when a delivery got that far. */
  inbox: InboxEntry | undefined;
}

export interface Owed {
  /** Due events the relay has not published yet. */
  unpublished: ScopedEvent[];
  /** Side effects of published events not done, dead or parked yet. */
  sideEffects: OwedSideEffect[];
}

export function owedWork(scope: readonly ScopedEvent[], subscribers: readonly Subscriber[]): Owed {
  const owed: Owed = { unpublished: [], sideEffects: [] };
  for (const scoped of scope) {
    if (scoped.event.status === 'pending') {
      if (scoped.due) owed.unpublished.push(scoped);
      continue;
    }
    // The relay gave up on it (it says so in published()): nothing more will come of it.
    if (scoped.event.status === 'failed') continue;
    for (const subscriber of subscribers) {
      if (!subscriber.events.some((pattern) => matchesTopic(pattern, scoped.event.type))) continue;
      const inbox = scoped.inbox.get(subscriber.name);
      if (!inbox || !SETTLED.has(inbox.status)) owed.sideEffects.push({ consumer: subscriber.name, event: scoped.event, inbox });
    }
  }
  return owed;
}

export const isSettled = (owed: Owed) => owed.unpublished.length === 0 && owed.sideEffects.length === 0;

const clip = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max)}…`);

/** What drain()'s timeout says is still owed: enough to see why, not a dump of a big backlog. */
export function describeOwed(owed: Owed, limit = 10): string {
  const lines: string[] = [];
  for (const { event, publishError } of owed.unpublished.slice(0, limit)) {
    lines.push(`  not published: ${event.type} ${event.id}${publishError ? ` (last publish error: ${publishError})` : ''}`);
  }
  if (owed.unpublished.length > limit) lines.push(`  ... and ${owed.unpublished.length - limit} more not published`);
  for (const { consumer, event, inbox } of owed.sideEffects.slice(0, limit)) {
    const state = !inbox
      ? 'not done yet (not delivered, or its handler is still running)'
      : inbox.status === 'waiting'
        ? 'held behind an earlier message of its key'
        : `${inbox.attempts} attempt(s) failed, waiting for its retry${inbox.lastError ? `; last error: ${clip(inbox.lastError, 600)}` : ''}`;
    lines.push(`  ${consumer} owes ${event.type} ${event.id}: ${state}`);
  }
  if (owed.sideEffects.length > limit) lines.push(`  ... and ${owed.sideEffects.length - limit} more side effects owed`);
  return lines.join('\n');
}

/** The scope's events as published() shows them, optionally of one (type, version). */
export function committedEvents(scope: readonly ScopedEvent[], definition?: { type: string; version: number }): CommittedEvent[] {
  return scope.map((scoped) => scoped.event).filter((event) => !definition || (event.type === definition.type && event.version === definition.version));
}

/** The scope's events whose inbox row for `consumer` has `status`, with the row. */
export function eventsWithInbox(
  scope: readonly ScopedEvent[],
  consumer: string,
  status: 'done' | 'dead' | 'parked',
  definition?: { type: string; version: number },
): { event: CommittedEvent; inbox: InboxEntry }[] {
  return scope.flatMap((scoped) => {
    const inbox = scoped.inbox.get(consumer);
    if (inbox?.status !== status) return [];
    if (definition && (scoped.event.type !== definition.type || scoped.event.version !== definition.version)) return [];
    return [{ event: scoped.event, inbox }];
  });
}
