// What the database says about one demo run, read with plain SQL and nothing from
// the library: the checks (verify.ts) judge the run on these facts alone.
import type pg from 'pg';

export interface RunFacts {
  users: Map<string, { events: number; profiles: number; signupLogs: number; welcomeEmails: number }>;
  orders: Map<
    string,
    {
      messageId?: string;
      events: number;
      lines: { sku: string; quantity: number }[];
      confirmations: number;
      analytics: number;
      webhooks: number;
      reservations: number;
    }
  >;
  /** Event ids of this run, with their status. */
  messages: Map<string, { status: string; type: string }>;
  inbox: { consumer: string; messageId: string; status: string; attempts: number }[];
  /** Side effects naming a user or an order that does not exist. */
  orphanProviderCalls: number;
  orphanReservations: number;
  duplicateProviderCalls: number;
  stock: { sku: string; available: number; reserved: number }[];
  rescheduled: number;
  /** Inbox rows marked dead since the run started, per consumer (messages of earlier runs included). */
  deadSince: Map<string, number>;
  /** Commit of the event to each side effect done, ms. */
  latencyP50Ms: number;
  latencyP99Ms: number;
}

const count = (map: Map<string, number>, key: string) => map.get(key) ?? 0;

async function countBy(pool: pg.Pool, sql: string, params: unknown[]): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ key: string; n: string }>(sql, params);
  return new Map(rows.map((row) => [row.key, Number(row.n)]));
}

export async function readRunFacts(pool: pg.Pool, runStart: Date): Promise<RunFacts> {
  const since = [runStart];
  const [userRows, orderRows, messageRows, inboxRows] = await Promise.all([
    pool.query<{ id: string }>('SELECT id::text FROM demo_user WHERE created_at >= $1', since),
    pool.query<{ id: string; lines: { sku: string; quantity: number }[] }>('SELECT id::text, lines FROM demo_order WHERE created_at >= $1', since),
    pool.query<{ id: string; status: string; type: string; subject: string }>(
      `SELECT id::text, status::text, event_type AS type, coalesce(payload->>'orderId', payload->>'userId') AS subject FROM outbox_message WHERE created_at >= $1`,
      since,
    ),
    pool.query<{ consumer: string; message_id: string; status: string; attempts: number }>(
      `SELECT i.consumer, i.message_id::text, i.status::text, i.attempts FROM outbox_inbox i JOIN outbox_message m ON m.id = i.message_id WHERE m.created_at >= $1`,
      since,
    ),
  ]);
  const [profiles, signupLogs, providerCalls, reservations] = await Promise.all([
    countBy(
      pool,
      'SELECT p.user_id::text AS key, count(*) AS n FROM demo_profile p JOIN demo_user u ON u.id = p.user_id WHERE u.created_at >= $1 GROUP BY 1',
      since,
    ),
    countBy(pool, 'SELECT user_id::text AS key, count(*) AS n FROM demo_signup_log WHERE created_at >= $1 GROUP BY 1', since),
    countBy(pool, `SELECT provider || ' ' || subject AS key, count(*) AS n FROM demo_provider_call WHERE created_at >= $1 GROUP BY 1`, since),
    countBy(pool, 'SELECT order_id::text AS key, count(*) AS n FROM demo_inventory_reservation WHERE created_at >= $1 GROUP BY 1', since),
  ]);
  const events = new Map<string, number>();
  const orderMessage = new Map<string, string>();
  for (const row of messageRows.rows) {
    events.set(row.subject, (events.get(row.subject) ?? 0) + 1);
    if (row.type === 'order.placed') orderMessage.set(row.subject, row.id);
  }

  const users = new Map(
    userRows.rows.map((user) => [
      user.id,
      {
        events: count(events, user.id),
        profiles: count(profiles, user.id),
        signupLogs: count(signupLogs, user.id),
        welcomeEmails: count(providerCalls, `email welcome:${user.id}`),
      },
    ]),
  );
  const orders = new Map(
    orderRows.rows.map((order) => [
      order.id,
      {
        ...(orderMessage.has(order.id) ? { messageId: orderMessage.get(order.id)! } : {}),
        events: count(events, order.id),
        lines: order.lines,
        confirmations: count(providerCalls, `email order-confirmation:${order.id}`),
        analytics: count(providerCalls, `analytics order-placed:${order.id}`),
        webhooks: count(providerCalls, `webhook order.placed:${order.id}`),
        reservations: count(reservations, order.id),
      },
    ]),
  );
  const [deadSince, orphans, duplicates, stock, rescheduled, latency] = await Promise.all([
    countBy(pool, `SELECT consumer AS key, count(*) AS n FROM outbox_inbox WHERE status = 'dead' AND updated_at >= $1 GROUP BY 1`, since),
    // A side effect naming a user or order that never committed (anywhere, not only in this run).
    pool.query<{ calls: string; reservations: string }>(
      `SELECT (SELECT count(*) FROM demo_provider_call c
                WHERE c.created_at >= $1
                  AND NOT EXISTS (SELECT 1 FROM demo_user u WHERE u.id::text = split_part(c.subject, ':', 2))
                  AND NOT EXISTS (SELECT 1 FROM demo_order o WHERE o.id::text = split_part(c.subject, ':', 2))) AS calls,
              (SELECT count(*) FROM demo_inventory_reservation r
                WHERE r.created_at >= $1 AND NOT EXISTS (SELECT 1 FROM demo_order o WHERE o.id = r.order_id)) AS reservations`,
      since,
    ),
    pool.query<{ n: string }>('SELECT coalesce(sum(calls - 1), 0) AS n FROM demo_provider_call WHERE created_at >= $1', since),
    pool.query<{ sku: string; available: number; reserved: string }>(
      'SELECT i.sku, i.available, (SELECT coalesce(sum(r.quantity), 0) FROM demo_inventory_reservation r WHERE r.sku = i.sku) AS reserved FROM demo_inventory_item i ORDER BY i.sku',
    ),
    pool.query<{ n: string }>('SELECT coalesce(sum(rescheduled), 0) AS n FROM outbox_reconciler_run WHERE started_at >= $1', since),
    pool.query<{ p50: number | null; p99: number | null }>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM i.done_at - m.created_at)) * 1000 AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM i.done_at - m.created_at)) * 1000 AS p99
         FROM outbox_inbox i JOIN outbox_message m ON m.id = i.message_id
        WHERE m.created_at >= $1 AND i.status = 'done'`,
      since,
    ),
  ]);

  return {
    users,
    orders,
    messages: new Map(messageRows.rows.map((row) => [row.id, { status: row.status, type: row.type }])),
    inbox: inboxRows.rows.map((row) => ({ consumer: row.consumer, messageId: row.message_id, status: row.status, attempts: row.attempts })),
    orphanProviderCalls: Number(orphans.rows[0]!.calls),
    orphanReservations: Number(orphans.rows[0]!.reservations),
    duplicateProviderCalls: Number(duplicates.rows[0]!.n),
    stock: stock.rows.map((row) => ({ sku: row.sku, available: row.available, reserved: Number(row.reserved) })),
    rescheduled: Number(rescheduled.rows[0]!.n),
    deadSince,
    latencyP50Ms: latency.rows[0]!.p50 ?? Number.NaN,
    latencyP99Ms: latency.rows[0]!.p99 ?? Number.NaN,
  };
}

/** Rows anywhere that mention these ids (orders or users that were rolled back must have none). */
export async function countTraces(pool: pg.Pool, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const { rows } = await pool.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM demo_order WHERE id::text = ANY($1))
          + (SELECT count(*) FROM outbox_message WHERE coalesce(payload->>'orderId', payload->>'userId') = ANY($1) OR ordering_key = ANY($1))
          + (SELECT count(*) FROM demo_inventory_reservation WHERE order_id::text = ANY($1))
          + (SELECT count(*) FROM demo_provider_call WHERE split_part(subject, ':', 2) = ANY($1)) AS n`,
    [ids],
  );
  return Number(rows[0]!.n);
}

/** Users per email: a refused duplicate signup must leave exactly the first. */
export async function usersWithEmails(pool: pg.Pool, emails: string[]): Promise<number> {
  if (emails.length === 0) return 0;
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM demo_user WHERE email = ANY($1)', [emails]);
  return Number(rows[0]!.n);
}
