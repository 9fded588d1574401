// `outbox status`: what an operator asks first. From the database: relay lag,
// failed rows, per consumer the side effects owed and not done, the last
// reconciler run. From the RabbitMQ management API when it answers: queue depths.
import { sqltag as sql } from '@prisma/client/runtime/client';
import { dlqName } from '../consumers/consumerTopology.js';
import { resolveConsumer, type ConsumerDefinition } from '../consumers/defineConsumer.js';
import { typesMatching } from '../consumers/topicPattern.js';
import type { EventDefinition } from '../outbox/defineEvent.js';
import type { QueryRows } from '../database/sqlStore.js';

export interface ConsumerStatus {
  consumer: string;
  registeredAt: string | null;
  /** Published messages owed (after registration, within the horizon) with no done/dead inbox row. */
  notDone: number;
  dead: number;
  queueDepth: number | null;
  dlqDepth: number | null;
}

export interface OutboxStatus {
  relay: { pending: number; oldestPendingAgeMs: number | null; failed: number; stale: boolean };
  consumers: ConsumerStatus[];
  reconciler: { lastRun: { id: string; status: string; startedAt: string; finishedAt: string | null; scanned: number; rescheduled: number } | null; overdue: boolean };
  broker: { managementApi: 'ok' | string };
  alerts: string[];
}

export interface StatusOptions {
  events: readonly EventDefinition[];
  consumers: readonly ConsumerDefinition<readonly EventDefinition[], never>[];
  horizonMs?: number;
  /** Pending rows older than this: the relay is behind or down. Default 5 min. */
  stalePendingMs?: number;
  /** No reconciler run finished for longer than this: overdue. Default 2 h (twice the hourly schedule). */
  reconcilerOverdueMs?: number;
  /** e.g. http://guest:guest@127.0.0.1:15672/%2F — management API base with credentials and vhost. */
  managementUrl?: string;
}

async function queueDepth(managementUrl: URL, vhost: string, queue: string): Promise<number | null> {
  const url = new URL(`api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`, managementUrl.origin + '/');
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(managementUrl.username)}:${decodeURIComponent(managementUrl.password)}`).toString('base64')}`;
  const response = await fetch(url, { headers: { authorization }, signal: AbortSignal.timeout(5000) });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`management API answered ${response.status}`);
  const body = (await response.json()) as { messages?: number };
  return body.messages ?? 0;
}

export async function readStatus(query: QueryRows, options: StatusOptions): Promise<OutboxStatus> {
  const horizonMs = options.horizonMs ?? 7 * 24 * 3_600_000;
  const stalePendingMs = options.stalePendingMs ?? 5 * 60_000;
  const overdueMs = options.reconcilerOverdueMs ?? 2 * 3_600_000;
  const alerts: string[] = [];

  const [relay] = await query<{ pending: number; oldestMs: number | null; failed: number }>(sql`
    SELECT (SELECT count(*)::int FROM outbox_message WHERE status = 'pending') AS "pending",
           (SELECT (extract(epoch FROM now() - min(available_at)) * 1000)::float8 FROM outbox_message
             WHERE status = 'pending' AND available_at <= now()) AS "oldestMs",
           (SELECT count(*)::int FROM outbox_message WHERE status = 'failed') AS "failed"`);
  const stale = relay!.oldestMs !== null && relay!.oldestMs > stalePendingMs;
  if (stale) alerts.push(`relay: the oldest due pending row waits for ${Math.round(relay!.oldestMs! / 1000)} s: is the relay running?`);
  if (relay!.failed > 0) alerts.push(`relay: ${relay!.failed} failed row(s) the broker refused: see last_error, then outbox retry-failed`);

  const catalogTypes = [...new Set(options.events.map((event) => event.type))];
  const management = options.managementUrl ? new URL(options.managementUrl) : undefined;
  const vhost = management ? decodeURIComponent(management.pathname.replace(/^\//, '')) || '/' : '/';
  let managementState: string = management ? 'ok' : 'not configured';
  const consumers: ConsumerStatus[] = [];
  for (const definition of options.consumers) {
    const consumer = resolveConsumer(definition);
    const types = typesMatching(consumer.events, catalogTypes);
    const [row] = await query<{ registeredAt: Date | null; notDone: number; dead: number }>(sql`
      WITH registered AS (SELECT registered_at, watermark_seq FROM outbox_consumer WHERE name = ${consumer.name})
      SELECT (SELECT registered_at FROM registered) AS "registeredAt",
             (SELECT count(*)::int FROM outbox_message m, registered r
               WHERE m.seq > r.watermark_seq AND m.status = 'published' AND m.event_type = ANY(${types}::varchar[])
                 AND m.created_at >= r.registered_at AND m.created_at > now() - ${horizonMs} * interval '1 millisecond'
                 AND NOT EXISTS (SELECT 1 FROM outbox_inbox i WHERE i.consumer = ${consumer.name} AND i.message_id = m.id AND i.status IN ('done', 'dead'))) AS "notDone",
             (SELECT count(*)::int FROM outbox_inbox WHERE consumer = ${consumer.name} AND status = 'dead') AS "dead"`);
    let depth: number | null = null;
    let dlqDepth: number | null = null;
    if (management && managementState === 'ok') {
      try {
        depth = await queueDepth(management, vhost, consumer.name);
        dlqDepth = await queueDepth(management, vhost, dlqName(consumer.name));
      } catch (error) {
        managementState = `unavailable (${error instanceof Error ? error.message : String(error)}): enable rabbitmq_management for queue depths`;
      }
    }
    if (row!.registeredAt === null) alerts.push(`consumer ${consumer.name}: never registered (no worker has started with it)`);
    if ((dlqDepth ?? 0) > 0) alerts.push(`consumer ${consumer.name}: ${dlqDepth} dead letter(s): outbox dlq list ${consumer.name}`);
    consumers.push({
      consumer: consumer.name,
      registeredAt: row!.registeredAt?.toISOString() ?? null,
      notDone: row!.notDone,
      dead: row!.dead,
      queueDepth: depth,
      dlqDepth,
    });
  }

  const [lastRun] = await query<{ id: string; status: string; startedAt: Date; finishedAt: Date | null; scanned: number; rescheduled: number }>(sql`
    SELECT id::text AS "id", status, started_at AS "startedAt", finished_at AS "finishedAt", scanned, rescheduled
      FROM outbox_reconciler_run WHERE status <> 'skipped' ORDER BY id DESC LIMIT 1`);
  const overdue = !lastRun || Date.now() - lastRun.startedAt.getTime() > overdueMs;
  if (overdue) alerts.push(lastRun ? `reconciler: no run since ${lastRun.startedAt.toISOString()}: are all replicas down?` : 'reconciler: it has never run');

  return {
    relay: { pending: relay!.pending, oldestPendingAgeMs: relay!.oldestMs, failed: relay!.failed, stale },
    consumers,
    reconciler: {
      lastRun: lastRun
        ? { ...lastRun, startedAt: lastRun.startedAt.toISOString(), finishedAt: lastRun.finishedAt?.toISOString() ?? null }
        : null,
      overdue,
    },
    broker: { managementApi: managementState },
    alerts,
  };
}
