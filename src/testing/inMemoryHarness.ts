// The harness without a broker: committed outbox rows are marked published and handed
// to the consumers from memory, one delivery at a time, through the worker's own
// handleDelivery (decode, inbox, handler, ordered keys) and its verdicts: a retry is
// scheduled on the harness's clock after the consumer's delay, a dead letter is
// recorded dead in the inbox and reported to the hooks. Nothing runs between calls:
// drain(), runDue() and clock.advance() do the work, so a test is deterministic.
import type { ConsumeMessage } from 'amqplib';
import { sqltag as sql } from '@prisma/client/runtime/client';
import type { ResolvedConsumer } from '../catalog/defineConsumer.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import { matchesTopic } from '../catalog/topicPattern.js';
import { retryDelayFor } from '../broker/consumerTopology.js';
import { HEADER_ATTEMPT, HEADER_RELEASED_AT, messageProperties } from '../broker/wireFormat.js';
import { handleDelivery, type DeliveryContext, type Verdict } from '../consumers/handleDelivery.js';
import { beforeDeadline, STUCK } from '../consumers/runDelivery.js';
import type { DeliveryOutcome } from '../consumers/deliveryStats.js';
import { recordInboxFailure } from '../consumers/inbox.js';
import type { ReleaseHeld } from '../consumers/releaseHeld.js';
import { createVerdictReports } from '../consumers/verdictActions.js';
import { bySeq, STORED_MESSAGE_COLUMNS, type StoredMessage } from '../database/storedMessage.js';
import { OutboxError } from '../errors.js';
import { loggableError } from '../logging/loggableError.js';
import type { HarnessCore } from './harnessCore.js';
import { describeOwed, isSettled, readCommitted } from './harnessRecords.js';
import type { DeliveryOrder, InMemoryTestHarness } from './harnessTypes.js';

const APP_ID = 'outbox-test-harness';

interface Scheduled {
  consumer: ResolvedConsumer;
  message: StoredMessage;
  attempt: number;
  /** On the harness's clock: ms advanced since the start. */
  dueAt: number;
  /** Tie-break: the order it was scheduled in. */
  sequence: number;
  headers: Record<string, unknown>;
}

/** Rows claimed per statement; a drain claims again until a claim comes back short. */
const CLAIM_LIMIT = 1_000;

/** A seeded shuffle (mulberry32), so that a failing order can be replayed with its seed. */
function shuffled<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const result = [...items];
  for (let i = result.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [result[i], result[j]] = [result[j]!, result[i]!];
  }
  return result;
}

/** The delivery a broker would hand the worker: the relay's properties, the retry tier's attempt header. */
function asDelivery(message: StoredMessage, attempt: number, headers: Record<string, unknown>): ConsumeMessage {
  const properties = messageProperties(message, APP_ID);
  return {
    content: Buffer.from(message.payload),
    fields: { deliveryTag: 0, redelivered: attempt > 1, exchange: '', routingKey: message.eventType, consumerTag: APP_ID },
    properties: { ...properties, headers: { ...(properties.headers as Record<string, unknown>), ...headers, [HEADER_ATTEMPT]: attempt } },
  } as unknown as ConsumeMessage;
}

export function createInMemoryHarness<TEvents extends readonly EventDefinition[]>(core: HarnessCore<TEvents>): InMemoryTestHarness<TEvents> {
  const { consumers, query, logger, settings } = core;
  const reports = createVerdictReports({ logger, errorFor: (error) => loggableError(error), ...core.hooks });
  let advancedMs = 0;
  let sequence = 0;
  let scheduled: Scheduled[] = [];
  let stopped = false;

  const schedule = (consumer: ResolvedConsumer, message: StoredMessage, attempt: number, dueAt: number, headers: Record<string, unknown> = {}) =>
    scheduled.push({ consumer, message, attempt, dueAt, sequence: (sequence += 1), headers });

  // Ordered consumers: messages released once their predecessor is done go back in line, due now.
  const releaseHeld: ReleaseHeld = (consumer, messages) => {
    const resolved = consumers.find((each) => each.name === consumer.name)!;
    for (const message of messages) schedule(resolved, message, 1, advancedMs, { [HEADER_RELEASED_AT]: new Date().toISOString() });
    return Promise.resolve();
  };
  const handling: Omit<DeliveryContext, 'consumer'> = {
    prisma: core.prisma,
    catalog: core.catalog,
    logger,
    transactionTimeoutMs: settings.transactionTimeoutMs,
    releaseHeld,
  };

  /** Marks the due pending rows published (a key's rows only behind its earlier ones) and hands each to its consumers. */
  async function relayDue(): Promise<number> {
    let relayed = 0;
    for (;;) {
      const dueBy = sql`now() + make_interval(secs => ${advancedMs / 1000})`;
      const rows = await query<StoredMessage>(sql`
        UPDATE outbox_message m
           SET status = 'published', published_at = now(), attempts = m.attempts + 1, last_error = NULL
         WHERE m.id = ANY(ARRAY(
                 SELECT c.id FROM outbox_message c
                  WHERE c.status = 'pending' AND c.available_at <= ${dueBy}
                    AND (c.ordering_key IS NULL OR NOT EXISTS (
                          SELECT 1 FROM outbox_message earlier
                           WHERE earlier.ordering_key = c.ordering_key AND earlier.seq < c.seq
                             AND (earlier.status = 'failed' OR (earlier.status = 'pending' AND earlier.available_at > ${dueBy}))))
                  ORDER BY c.seq
                  LIMIT ${CLAIM_LIMIT}
                    FOR UPDATE SKIP LOCKED))
        RETURNING ${STORED_MESSAGE_COLUMNS}`);
      rows.sort(bySeq);
      for (const row of rows) {
        for (const consumer of consumers) if (consumer.events.some((pattern) => matchesTopic(pattern, row.eventType))) schedule(consumer, row, 1, advancedMs);
      }
      relayed += rows.length;
      if (rows.length < CLAIM_LIMIT) return relayed;
    }
  }

  /** Carries out a verdict as the worker would (a retry tier becomes the harness's clock), and says what it came to. */
  async function act(item: Scheduled, verdict: Verdict): Promise<DeliveryOutcome> {
    const { consumer, message } = item;
    switch (verdict.action) {
      case 'ack':
        return verdict.outcome === 'done' ? 'handled' : verdict.outcome;
      case 'park':
        await reports.parked(consumer, verdict);
        return 'parked';
      case 'retry':
        schedule(consumer, message, verdict.nextAttempt, advancedMs + retryDelayFor(consumer, verdict.nextAttempt));
        return 'retried';
      case 'defer':
        schedule(consumer, message, verdict.attempt, advancedMs + consumer.retryDelays[0]!);
        return 'deferred';
      case 'dead-letter':
        if (verdict.reason !== 'malformed' && verdict.messageId) {
          await recordInboxFailure(query, consumer.name, verdict.messageId, 'dead', verdict.attempts, verdict.error);
        }
        await reports.deadLettered(consumer, verdict);
        return 'dead-lettered';
    }
  }

  async function deliverOne(item: Scheduled): Promise<DeliveryOutcome> {
    const delivery = asDelivery(item.message, item.attempt, item.headers);
    const verdict = await handleDelivery(delivery, { ...handling, consumer: item.consumer }, item.attempt);
    const outcome = await act(item, verdict);
    core.record({ consumer: item.consumer.name, messageId: item.message.id, eventType: item.message.eventType, outcome });
    return outcome;
  }

  /** One delivery, given until the drain's deadline: a handler that never resolves must not hang the test. */
  async function deliverBy(item: Scheduled, deadline: number): Promise<DeliveryOutcome> {
    const outcome = await beforeDeadline(deliverOne(item), Math.max(1, deadline - Date.now()));
    if (outcome !== STUCK) return outcome;
    throw new OutboxError(
      'OUTBOX_DRAIN_TIMEOUT',
      `${item.consumer.name} was still handling ${item.message.eventType} ${item.message.id} at the end of the drain's ${settings.drainTimeoutMs} ms ` +
        '(a handler that never resolves, or a transaction waiting for a lock?); it goes on in the background',
    );
  }

  /** Relays and delivers, round after round, until nothing is due at the clock's time. */
  async function runDue(order: DeliveryOrder = 'written', seed = 1, deadline = Date.now() + settings.drainTimeoutMs): Promise<void> {
    if (stopped) throw new OutboxError('OUTBOX_INVALID_OPTIONS', 'the test harness is stopped');
    for (let round = 0; ; round += 1) {
      await relayDue();
      const due = scheduled.filter((item) => item.dueAt <= advancedMs).sort((a, b) => a.dueAt - b.dueAt || a.sequence - b.sequence);
      if (due.length === 0) return;
      scheduled = scheduled.filter((item) => item.dueAt > advancedMs);
      const inOrder = order === 'reverse' ? due.reverse() : order === 'shuffle' ? shuffled(due, seed + round) : due;
      for (const item of inOrder) {
        if (Date.now() > deadline) await timedOut();
        await deliverBy(item, deadline);
      }
    }
  }

  async function timedOut(): Promise<never> {
    throw new OutboxError(
      'OUTBOX_DRAIN_TIMEOUT',
      `drain did not settle within drainTimeoutMs (${settings.drainTimeoutMs} ms; the clock advanced ${advancedMs} ms); still owed:\n${describeOwed(await core.readOwed())}`,
    );
  }

  /** The clock's next stop: the earliest scheduled delivery, or delayed outbox row, due after now (and by `until`). */
  async function nextDueAt(until = Number.POSITIVE_INFINITY): Promise<number | undefined> {
    const [row] = await query<{ ms: number | null }>(sql`
      SELECT ceil(extract(epoch FROM min(available_at) - now()) * 1000)::float8 AS "ms"
        FROM outbox_message WHERE status = 'pending' AND available_at > now() + make_interval(secs => ${advancedMs / 1000})`);
    const candidates = [...scheduled.map((item) => item.dueAt), ...(row?.ms == null ? [] : [row.ms])].filter((at) => at > advancedMs && at <= until);
    return candidates.length === 0 ? undefined : Math.min(...candidates);
  }

  return {
    mode: 'in-memory',
    ...core.views,

    async drain({ order, seed } = {}) {
      const deadline = Date.now() + settings.drainTimeoutMs;
      for (;;) {
        await runDue(order, seed, deadline);
        // Only owed work moves the clock: retries, not delayed events (they are not due yet).
        const retries = scheduled.map((item) => item.dueAt);
        if (retries.length > 0) {
          advancedMs = Math.min(...retries);
          if (Date.now() > deadline) await timedOut();
          continue;
        }
        const owed = await core.readOwed();
        if (isSettled(owed)) return;
        // Committed meanwhile: another round relays it. Anything else (a relay running beside
        // the harness published it) will never reach these consumers.
        if (owed.unpublished.length === 0 || Date.now() > deadline) {
          throw new OutboxError(
            'OUTBOX_DRAIN_TIMEOUT',
            `drain cannot settle: side effects are owed that no delivery of the harness will do (is a relay running beside the in-memory harness?):\n${describeOwed(owed)}`,
          );
        }
      }
    },

    runDue: ({ order, seed } = {}) => runDue(order, seed),

    clock: {
      now: () => new Date(Date.now() + advancedMs),
      async advance(ms: number) {
        if (!Number.isFinite(ms) || ms < 0)
          throw new OutboxError('OUTBOX_INVALID_OPTIONS', `clock.advance: ms must be a non-negative number, not ${String(ms)}`);
        const until = advancedMs + ms;
        await runDue();
        for (let next = await nextDueAt(until); next !== undefined; next = await nextDueAt(until)) {
          advancedMs = next;
          await runDue();
        }
        advancedMs = until;
        await runDue();
      },
    },

    async deliver(consumerName, messageId) {
      const consumer = consumers.find((each) => each.name === consumerName);
      if (!consumer) throw new OutboxError('OUTBOX_INVALID_OPTIONS', `deliver: ${JSON.stringify(consumerName)} is not one of the harness's consumers`);
      const message = await readCommitted(query, messageId);
      return deliverBy({ consumer, message, attempt: 1, dueAt: advancedMs, sequence: 0, headers: {} }, Date.now() + settings.drainTimeoutMs);
    },

    async reset() {
      scheduled = [];
      await core.views.reset();
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      scheduled = [];
      await core.close();
    },
  };
}
