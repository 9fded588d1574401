// What bench:backlog and bench:steady share: pending outbox rows as an app writes them
// (fresh, a key each, varied ~200-byte payloads), and a capped queue taking every
// published message so the broker confirms each one and nothing piles up.
import amqp from 'amqplib';
import type pg from 'pg';

export async function insertPendingRows(pool: pg.Pool, count: number): Promise<void> {
  await pool.query(
    `INSERT INTO outbox_message (id, event_type, ordering_key, payload)
     SELECT gen_random_uuid(), 'order.placed', gen_random_uuid()::text,
            jsonb_build_object('orderId', gen_random_uuid(), 'customerId', gen_random_uuid(), 'totalCents', (random() * 1e6)::int,
                               'currency', 'EUR', 'note', repeat('x', (random() * 60)::int))
     FROM generate_series(1, $1)`,
    [count],
  );
}

/** The relay's exchanges and a queue bound to every event, capped (dropping its oldest). */
export async function declareTapQueue(amqpUrl: string, queue: string): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  await channel.assertExchange('outbox.unroutable', 'fanout', { durable: true });
  await channel.assertExchange('outbox.events', 'topic', { durable: true, alternateExchange: 'outbox.unroutable' });
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 10_000, 'x-overflow': 'drop-head' } });
  await channel.bindQueue(queue, 'outbox.events', '#');
  await connection.close();
}
