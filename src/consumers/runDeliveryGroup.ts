// A batched consumer's group of deliveries (`batchSize`): one database transaction
// for all of them (one multi-row inbox write, the handlers one after another on the
// same `tx`, one commit), then the acks. Any failure in the group (a handler, the
// commit, a deadlock) rolls the whole group back and its deliveries run again one by
// one, each with its own transaction and verdict: a poison message fails alone, never
// its neighbours, and attempts are counted per message as without batching.
import type { Channel, ConsumeMessage } from 'amqplib';
import type { ResolvedConsumer } from '../catalog/defineConsumer.js';
import { prismaQueryRows } from '../database/sqlStore.js';
import { loggableError } from '../logging/loggableError.js';
import { decodeDelivery, type DecodedDelivery } from './decodeDelivery.js';
import type { DeliveryContext } from './handleDelivery.js';
import { INBOX_IDLE_MARGIN_MS, recordInboxReceipts } from './inbox.js';
import { handlerContext } from './handlerContext.js';
import { beforeDeadline, STUCK, type DeliveryRunner, type DeliveryRunnerContext } from './runDelivery.js';
import { settlementOf } from './verdictActions.js';
import { traceConsume, type TracedConsume } from '../tracing/tracing.js';

interface Member {
  message: ConsumeMessage;
  decoded: DecodedDelivery;
  /** Its outbox.consume span, when the app traces. */
  traced?: TracedConsume | undefined;
}

/** Runs the group's handlers in one transaction; resolves with the ids that were duplicates. */
async function handleGroup(members: readonly Member[], context: DeliveryContext): Promise<Set<string>> {
  const { prisma, consumer, transactionTimeoutMs } = context;
  const ids = members.map(({ decoded }) => decoded.messageId);
  return prisma.$transaction(
    async (tx) => {
      const toRun = await recordInboxReceipts(prismaQueryRows(tx), consumer.name, ids, transactionTimeoutMs + INBOX_IDLE_MARGIN_MS);
      for (const { decoded, traced } of members) {
        if (!toRun.has(decoded.messageId)) continue;
        const { messageId, eventType, attempt } = decoded;
        const logger = context.logger.child({ messageId, eventType, consumer: consumer.name, attempt });
        logger.debug({ groupSize: members.length }, 'work started (in a group)');
        const work = () => consumer.handle({ ...handlerContext(consumer.name, decoded, attempt, logger), tx });
        await (traced ? traced.run(work) : work());
      }
      return new Set(ids.filter((id) => !toRun.has(id)));
    },
    { timeout: transactionTimeoutMs, maxWait: transactionTimeoutMs },
  );
}

export function createGroupRunner(runDelivery: DeliveryRunner, context: Pick<DeliveryRunnerContext, 'handling' | 'deliveryTimeoutMs' | 'events' | 'logger'>) {
  const { handling, deliveryTimeoutMs, events, logger } = context;

  /** `channelOpen`: false once the deliveries' channel closed (the broker redelivers them then). */
  return async function runGroup(channel: Channel, consumer: ResolvedConsumer, messages: readonly ConsumeMessage[], channelOpen: () => boolean): Promise<void> {
    const members: Member[] = [];
    const alone: ConsumeMessage[] = [];
    const seen = new Set<string>();
    for (const message of messages) {
      const decoded = decodeDelivery(message, handling.catalog);
      // Malformed deliveries get their verdict alone; so does a second copy of a message
      // in one group (a multi-row inbox write cannot touch one row twice).
      if (decoded.ok && !seen.has(decoded.messageId)) {
        seen.add(decoded.messageId);
        members.push({ message, decoded });
      } else alone.push(message);
    }
    if (members.length < 2) alone.unshift(...members.map(({ message }) => message));
    else await runTogether(channel, consumer, members, channelOpen);
    for (const message of alone) {
      if (!channelOpen()) return;
      await runDelivery(channel, consumer, message, channelOpen);
    }
  };

  async function runTogether(channel: Channel, consumer: ResolvedConsumer, untraced: readonly Member[], channelOpen: () => boolean): Promise<void> {
    const members = untraced.map((member) => ({ ...member, traced: traceOf(consumer.name, member) }));
    const endSpans = (outcome: (id: string) => string, error?: unknown) => {
      for (const { decoded, traced } of members) traced?.end(outcome(decoded.messageId), error);
    };
    const startedAt = performance.now();
    const work = handleGroup(members, { ...handling, consumer });
    let outcome: Set<string> | typeof STUCK | Error;
    try {
      outcome = await beforeDeadline(work, deliveryTimeoutMs);
    } catch (error) {
      outcome = error instanceof Error ? error : new Error(String(error));
    }
    const abouts = members.map(({ decoded }) => ({ consumer: consumer.name, messageId: decoded.messageId, eventType: decoded.eventType }));
    if (outcome === STUCK) {
      endSpans(() => 'handed-back', `no verdict within the delivery deadline (${deliveryTimeoutMs} ms)`);
      // Its transaction holds the group's inbox rows: run one by one now, each would wait
      // for them until its own deadline. Handed back instead, all of them.
      await Promise.all(members.map(({ message }, index) => runDelivery.handBack(consumer, message, work, settlementOf(channel, message), abouts[index]!)));
      return;
    }
    if (outcome instanceof Error) {
      // Each runs again alone, in a span of its own.
      endSpans(() => 'rolled-back', outcome);
      logger.debug(
        { consumer: consumer.name, size: members.length, messageIds: abouts.map((about) => about.messageId), err: loggableError(outcome) },
        'group failed and was rolled back; running its deliveries one by one',
      );
      for (const { message } of members) {
        if (!channelOpen()) return;
        await runDelivery(channel, consumer, message, channelOpen);
      }
      return;
    }
    // Each delivery's share of the group's time: what the handler percentiles and the
    // duration histogram report for it (the group's time as each one's would inflate them).
    const groupMs = performance.now() - startedAt;
    const durationMs = groupMs / members.length;
    runDelivery.noteDatabase({ action: 'ack', outcome: 'done' }, abouts[0]!);
    endSpans((id) => (outcome.has(id) ? 'duplicate' : 'handled'));
    logger.debug({ consumer: consumer.name, size: members.length, duplicates: outcome.size, durationMs: Math.round(groupMs * 10) / 10 }, 'group handled');
    members.forEach(({ message }, index) => {
      const about = abouts[index]!;
      const duplicate = outcome.has(about.messageId);
      // Acknowledged only after the commit: a crash before the acks redelivers the group, and the inbox skips it.
      try {
        settlementOf(channel, message).ack();
      } catch (error) {
        logger.debug({ ...about, err: loggableError(error) }, 'ack not sent: its channel closed; the broker redelivers it and the inbox skips it');
      }
      events.emit('delivery:settled', { ...about, outcome: duplicate ? 'duplicate' : 'handled', durationMs, handlerRan: !duplicate });
    });
  }
}

/** A group member's outbox.consume span, started before the group's transaction. */
function traceOf(consumer: string, { message, decoded }: Member): TracedConsume | undefined {
  return traceConsume(consumer, {
    id: decoded.messageId,
    eventType: decoded.eventType,
    traceparent: message.properties.headers?.traceparent,
    attempt: decoded.attempt,
  });
}

export type GroupRunner = ReturnType<typeof createGroupRunner>;
