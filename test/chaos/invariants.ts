// The invariant checker: what the database and the broker hold after a chaos run,
// judged against what the guarantees promise. It reads tables and queues with
// plain pg and amqplib and imports nothing from src/: a bug in the code under
// test cannot hide itself from it.
import amqp from 'amqplib';
import type pg from 'pg';

export interface DatabaseFacts {
  /** Committed business rows: item id -> key, key order, poison. */
  items: Map<string, { key: string; keySeq: number; poison: boolean }>;
  outbox: { id: string; type: string; itemId: string; status: string }[];
  /** `${consumer} ${itemId}` -> side-effect rows. */
  effects: Map<string, number>;
  dead: { consumer: string; messageId: string }[];
  retries: number;
  /** Every side-effect row in insertion order (id), with its item's key and key order: what each handler did, when. */
  handled: { consumer: string; key: string; keySeq: number }[];
}

export interface BrokerFacts {
  /** Every chaos.item message the tap queue received, in broker order. */
  tap: { messageId: string; key: string; keySeq: number }[];
  /** Dead-letter queue -> message ids in it. */
  deadLetters: Map<string, string[]>;
  unroutable: string[];
}

export interface Expectations {
  consumers: readonly string[];
  /** The consumer that refuses poison items (every other consumer handles them). */
  poisonRefusedBy: string;
  /** Item ids whose transaction was rolled back on purpose. */
  rolledBack: readonly string[];
  /** Consumers that must handle each key's items in key order (ordered consumers). */
  orderedConsumers: readonly string[];
}

export interface Verdict {
  violations: string[];
  stats: {
    committed: number;
    rolledBack: number;
    events: number;
    poison: number;
    unroutable: number;
    effectsOwed: number;
    lost: number;
    duplicateEffects: number;
    duplicateDeliveries: number;
    retries: number;
  };
}

export async function readDatabaseFacts(pool: pg.Pool): Promise<DatabaseFacts> {
  const [items, outbox, effects, dead, retries, handled] = await Promise.all([
    pool.query<{ id: string; key: string; key_seq: number; poison: boolean }>('SELECT id::text, key, key_seq, poison FROM chaos_item'),
    pool.query<{ id: string; type: string; item_id: string; status: string }>(
      "SELECT id::text, event_type AS type, payload->>'itemId' AS item_id, status::text FROM outbox_message",
    ),
    pool.query<{ key: string; n: number }>("SELECT consumer || ' ' || item_id AS key, count(*)::int AS n FROM chaos_effect GROUP BY 1"),
    pool.query<{ consumer: string; message_id: string }>("SELECT consumer, message_id::text FROM outbox_inbox WHERE status = 'dead'"),
    pool.query<{ n: number }>("SELECT coalesce(sum(attempts - 1), 0)::int AS n FROM outbox_inbox WHERE status = 'done'"),
    pool.query<{ consumer: string; key: string; key_seq: number }>(
      'SELECT e.consumer, i.key, i.key_seq FROM chaos_effect e JOIN chaos_item i ON i.id = e.item_id ORDER BY e.id',
    ),
  ]);
  return {
    items: new Map(items.rows.map((row) => [row.id, { key: row.key, keySeq: row.key_seq, poison: row.poison }])),
    outbox: outbox.rows.map((row) => ({ id: row.id, type: row.type, itemId: row.item_id, status: row.status })),
    effects: new Map(effects.rows.map((row) => [row.key, row.n])),
    dead: dead.rows.map((row) => ({ consumer: row.consumer, messageId: row.message_id })),
    retries: retries.rows[0]!.n,
    handled: handled.rows.map((row) => ({ consumer: row.consumer, key: row.key, keySeq: row.key_seq })),
  };
}

/** Drains the tap, the dead-letter queues and outbox.unroutable (read once, at the end). */
export async function readBrokerFacts(amqpUrl: string, tapQueue: string, deadLetterQueues: readonly string[]): Promise<BrokerFacts> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    const drain = async (queue: string) => {
      const messages: amqp.GetMessage[] = [];
      for (let message = await channel.get(queue, { noAck: true }); message !== false; message = await channel.get(queue, { noAck: true }))
        messages.push(message);
      return messages;
    };
    const tap = (await drain(tapQueue)).map((message) => {
      const payload = JSON.parse(message.content.toString('utf8')) as { key: string; keySeq: number };
      return { messageId: String(message.properties.messageId), key: payload.key, keySeq: payload.keySeq };
    });
    const deadLetters = new Map<string, string[]>();
    for (const queue of deadLetterQueues)
      deadLetters.set(
        queue,
        (await drain(queue)).map((message) => String(message.properties.messageId)),
      );
    const unroutable = (await drain('outbox.unroutable')).map((message) => String(message.properties.messageId));
    await channel.close();
    return { tap, deadLetters, unroutable };
  } finally {
    await connection.close().catch(() => {});
  }
}

/** Side effects not there yet (nor dead-lettered): 0 once the pipeline has settled. */
export function missingWork(db: DatabaseFacts, expect: Expectations): number {
  let missing = db.outbox.filter((row) => row.status !== 'published').length;
  const dead = new Set(db.dead.map((row) => `${row.consumer} ${row.messageId}`));
  const eventOf = new Map(db.outbox.filter((row) => row.type === 'chaos.item').map((row) => [row.itemId, row.id]));
  for (const [itemId, item] of db.items) {
    for (const consumer of expect.consumers) {
      if (item.poison && consumer === expect.poisonRefusedBy) missing += Number(!dead.has(`${consumer} ${eventOf.get(itemId)}`));
      else missing += Number((db.effects.get(`${consumer} ${itemId}`) ?? 0) === 0);
    }
  }
  return missing;
}

export function judge(db: DatabaseFacts, broker: BrokerFacts, expect: Expectations): Verdict {
  const violations: string[] = [];
  const report = (what: string, ids: readonly string[]) => {
    if (ids.length > 0) violations.push(`${what}: ${ids.length} (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''})`);
  };
  const itemEvents = db.outbox.filter((row) => row.type === 'chaos.item');
  const eventsPerItem = new Map<string, string[]>();
  for (const row of itemEvents) eventsPerItem.set(row.itemId, [...(eventsPerItem.get(row.itemId) ?? []), row.id]);

  // The write: business row and event, both or neither.
  report(
    'committed items without exactly one event',
    [...db.items.keys()].filter((id) => (eventsPerItem.get(id) ?? []).length !== 1),
  );
  report(
    'events whose business row never committed',
    itemEvents.filter((row) => !db.items.has(row.itemId)).map((row) => row.id),
  );
  const rolledBack = new Set(expect.rolledBack);
  report('rolled-back items with a row, an event or an effect', [
    ...expect.rolledBack.filter((id) => db.items.has(id) || eventsPerItem.has(id)),
    ...[...db.effects.keys()].filter((key) => rolledBack.has(key.split(' ')[1]!)),
  ]);

  // The relay: every event published, and seen by the broker.
  report(
    'events not published',
    db.outbox.filter((row) => row.status !== 'published').map((row) => row.id),
  );
  const tapped = new Set(broker.tap.map((message) => message.messageId));
  report(
    'events the broker never received',
    itemEvents.filter((row) => !tapped.has(row.id)).map((row) => row.id),
  );
  const known = new Set(db.outbox.map((row) => row.id));
  report(
    'messages on the broker that no committed event explains',
    [...tapped].filter((id) => !known.has(id)),
  );

  // Per-key order out of the relay: first arrivals of each key in write order.
  const lastSeq = new Map<string, number>();
  const seen = new Set<string>();
  const outOfOrder: string[] = [];
  for (const message of broker.tap) {
    if (seen.has(message.messageId)) continue;
    seen.add(message.messageId);
    if ((lastSeq.get(message.key) ?? -1) > message.keySeq) outOfOrder.push(message.messageId);
    lastSeq.set(message.key, Math.max(lastSeq.get(message.key) ?? -1, message.keySeq));
  }
  report('messages that reached the broker ahead of an earlier one of their key', outOfOrder);

  // The consumers: one effect per (consumer, item), none for refused poison.
  const lost: string[] = [];
  const duplicated: string[] = [];
  let owed = 0;
  for (const [itemId, item] of db.items) {
    for (const consumer of expect.consumers) {
      const effects = db.effects.get(`${consumer} ${itemId}`) ?? 0;
      const refused = item.poison && consumer === expect.poisonRefusedBy;
      owed += Number(!refused);
      if (refused ? effects !== 0 : effects === 0) lost.push(`${consumer}:${itemId}`);
      if (effects > 1) duplicated.push(`${consumer}:${itemId}`);
    }
  }
  report('side effects missing', lost);
  // Ordered consumers: each key's effects committed in key order (the effect rows' ids are
  // taken in the handlers' transactions, which one key's row lock serialises).
  const ordered = new Set(expect.orderedConsumers);
  const highest = new Map<string, number>();
  const handledEarly: string[] = [];
  for (const effect of db.handled) {
    if (!ordered.has(effect.consumer)) continue;
    const slot = `${effect.consumer} ${effect.key}`;
    if ((highest.get(slot) ?? -1) > effect.keySeq) handledEarly.push(`${slot}#${effect.keySeq}`);
    highest.set(slot, Math.max(highest.get(slot) ?? -1, effect.keySeq));
  }
  report('side effects handled ahead of an earlier one of their key', handledEarly);
  report('side effects done more than once', duplicated);

  // Dead letters: exactly the poison, in the inbox and in the dead-letter queue.
  const poisonEvents = new Set([...db.items].filter(([, item]) => item.poison).flatMap(([id]) => eventsPerItem.get(id) ?? []));
  report(
    'dead letters that were not made to fail',
    db.dead.filter((row) => row.consumer !== expect.poisonRefusedBy || !poisonEvents.has(row.messageId)).map((row) => `${row.consumer}:${row.messageId}`),
  );
  const deadForPoison = new Set(db.dead.map((row) => row.messageId));
  report(
    'poison messages not dead-lettered',
    [...poisonEvents].filter((id) => !deadForPoison.has(id)),
  );
  for (const [queue, ids] of broker.deadLetters) {
    const expected = queue === `${expect.poisonRefusedBy}.dlq` ? poisonEvents : new Set<string>();
    report(
      `${queue}: messages that should not be there`,
      ids.filter((id) => !expected.has(id)),
    );
    report(
      `${queue}: poison messages missing`,
      [...expected].filter((id) => !ids.includes(id)),
    );
  }

  // Events no consumer is bound to: kept in outbox.unroutable, never dropped.
  const orphans = db.outbox.filter((row) => row.type !== 'chaos.item').map((row) => row.id);
  const unroutable = new Set(broker.unroutable);
  report(
    'unroutable events lost',
    orphans.filter((id) => !unroutable.has(id)),
  );

  return {
    violations,
    stats: {
      committed: db.items.size,
      rolledBack: expect.rolledBack.length,
      events: db.outbox.length,
      poison: poisonEvents.size,
      unroutable: orphans.length,
      effectsOwed: owed,
      lost: lost.length,
      duplicateEffects: duplicated.length,
      duplicateDeliveries: broker.tap.length - tapped.size,
      retries: db.retries,
    },
  };
}
