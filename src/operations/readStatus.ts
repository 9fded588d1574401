// `outbox status`: what an operator asks first. From the database: relay lag,
// failed rows, per consumer the side effects owed and not done, the last
// reconciler run. From the broker (readBrokerStatus): whether AMQP_URL connects,
// whether the management API is that broker's, queue depths, unroutable events.
// A number it cannot vouch for is null, never a guess.
import { raw, sqltag as sql, type Sql } from '@prisma/client/runtime/client';
import type { BrokerReading, BrokerStatus } from '../broker/readBrokerStatus.js';
import { dlqName } from '../broker/consumerTopology.js';
import { afterPosition, finishedBy, owedTo } from '../database/owedMessages.js';
import { readRelayBacklog } from '../database/relayBacklog.js';
import { readPartitionHealth } from '../database/maintainPartitions.js';
import type { QueryRows } from '../database/sqlStore.js';
import { DEFAULT_GRACE_MS, DEFAULT_HORIZON_MS, DEFAULT_STALE_PENDING_MS } from '../defaults.js';

export interface ConsumerStatus {
  consumer: string;
  registeredAt: string | null;
  /**
   * Published messages owed to it (after its registration and watermark, within
   * the horizon) with no done/dead inbox row, older than the grace window: what
   * the reconciler would re-schedule now. Null without the consumer's event types (no config).
   */
  notDone: number | null;
  /** The same, younger than the grace window: most likely on their way. Null without a config. */
  inFlight: number | null;
  /** Inbox rows marked dead. */
  dead: number;
  /** Ordered consumers: keys parked after a message failed for good (0 for others). */
  parkedKeys: number;
  /** How long the oldest parked key has waited; null without one. */
  oldestParkedAgeMs: number | null;
  /** Messages in its work queue (an ordered consumer's partitions together), its retry tiers and its DLQ; null when unknown (see broker.management). */
  queueDepth: number | null;
  retryDepth: number | null;
  dlqDepth: number | null;
}

export interface OutboxStatus {
  relay: { pending: number; oldestPendingAgeMs: number | null; failed: number; stale: boolean };
  /** "config": the config file's consumers, with what they are owed; "database": those registered in outbox_consumer. */
  consumersFrom: 'config' | 'database';
  /** Owed messages younger than this are counted as in flight, not as not done (the reconciler's grace). */
  graceMs: number;
  consumers: ConsumerStatus[];
  reconciler: {
    lastRun: { id: string; status: string; startedAt: string; finishedAt: string | null; scanned: number; rescheduled: number } | null;
    overdue: boolean;
  };
  broker: BrokerStatus;
  /** Facts about the report itself (what is unknown, and why). */
  notes: string[];
  /** Each needs someone to act; none means healthy. */
  alerts: string[];
}

export interface StatusOptions {
  /**
   * The consumers to report on, each with the event types owed to it (from a
   * config). Undefined: the consumers registered in the database, whose owed
   * counts cannot be computed (null).
   */
  consumers?: readonly StatusConsumer[];
  /** The broker's half (readBrokerStatus), started by the caller as early as it likes. */
  broker: BrokerReading | Promise<BrokerReading>;
  /** The reconciler's grace window: younger owed messages are in flight. Default 15 min, as the reconciler's. */
  graceMs?: number;
  horizonMs?: number;
  /** Pending rows older than this: the relay is behind or down. Default 5 min. */
  stalePendingMs?: number;
  /** No reconciler run finished for longer than this: overdue. Default 2 h (twice the hourly schedule). */
  reconcilerOverdueMs?: number;
}

export interface StatusConsumer {
  name: string;
  eventTypes: readonly string[];
  /** The queues it consumes: its work queue, or an ordered consumer's partitions. */
  queues: readonly string[];
}

interface ConsumerRow {
  name: string;
  registeredAt: Date | null;
  notDone: number | null;
  inFlight: number | null;
  dead: number;
  parkedKeys: number;
  oldestParkedAgeMs: number | null;
}

/** Per consumer `name` (SQL): inbox rows dead, parked keys and the age of the oldest. */
const DEAD_AND_PARKED = (name: Sql) => sql`
  (SELECT count(*)::int FROM outbox_inbox i WHERE i.consumer = ${name} AND i.status = 'dead') AS "dead",
  (SELECT count(*)::int FROM outbox_ordered_key k WHERE k.consumer = ${name} AND k.parked_at IS NOT NULL) AS "parkedKeys",
  (SELECT (extract(epoch FROM now() - min(k.parked_at)) * 1000)::bigint::int FROM outbox_ordered_key k
    WHERE k.consumer = ${name} AND k.parked_at IS NOT NULL) AS "oldestParkedAgeMs"`;

/**
 * Per consumer, in the given order: owed and not done, split at the grace window,
 * as the reconciler's findUndoneMessages judges it (after the watermark and the
 * registration, within the horizon, published, no done/dead inbox row). One
 * statement for all consumers. Parameters: consumers (JSON [{name, types}]), grace, horizon.
 */
function readOwedConsumers(query: QueryRows, consumers: readonly StatusConsumer[], graceMs: number, horizonMs: number): Promise<ConsumerRow[]> {
  const wanted = JSON.stringify(consumers.map((consumer) => ({ name: consumer.name, types: consumer.eventTypes })));
  return query<ConsumerRow>(sql`
    SELECT w.name, c.registered_at AS "registeredAt", coalesce(o.not_done, 0) AS "notDone", coalesce(o.in_flight, 0) AS "inFlight",
           ${DEAD_AND_PARKED(raw('w.name'))}
      FROM ROWS FROM (jsonb_to_recordset(${wanted}::jsonb) AS (name text, types text[])) WITH ORDINALITY AS w(name, types, ord)
      LEFT JOIN outbox_consumer c ON c.name = w.name
      LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE m.created_at < now() - ${graceMs} * interval '1 millisecond')::int AS not_done,
               count(*) FILTER (WHERE m.created_at >= now() - ${graceMs} * interval '1 millisecond')::int AS in_flight
          FROM outbox_message m
         WHERE ${afterPosition(raw('(c.watermark_xid, c.watermark_seq)'))} AND m.status = 'published'
           AND ${owedTo({ eventTypes: raw('w.types::varchar[]'), registeredAt: raw('c.registered_at'), horizonMs })}
           AND NOT ${finishedBy(raw('w.name'))}) o ON true
     ORDER BY w.ord`);
}

/** Every registered consumer, without its event types: what is owed stays unknown. */
function readRegisteredConsumers(query: QueryRows): Promise<ConsumerRow[]> {
  return query<ConsumerRow>(sql`
    SELECT c.name, c.registered_at AS "registeredAt", NULL::int AS "notDone", NULL::int AS "inFlight", ${DEAD_AND_PARKED(raw('c.name'))}
      FROM outbox_consumer c ORDER BY c.name`);
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The queues a consumer consumes: from the config, or without one its work queue if
 * the broker has it, else its partition queues ("<name>.p00"...) if it has those.
 */
function consumedQueuesOf(name: string, known: StatusConsumer | undefined, queues: ReadonlyMap<string, number | null> | undefined): readonly string[] {
  if (known) return known.queues;
  if (!queues || queues.has(name)) return [name];
  const partition = new RegExp(`^${escapeRegExp(name)}\\.p\\d+$`);
  const partitions = [...queues.keys()].filter((queue) => partition.test(queue));
  return partitions.length > 0 ? partitions : [name];
}

/** The queues' depths together; null if one is unknown or missing. */
function depthOf(names: readonly string[], queues: ReadonlyMap<string, number | null> | undefined): number | null {
  let total = 0;
  for (const name of names) {
    const depth = queues?.get(name);
    if (depth === undefined || depth === null) return null;
    total += depth;
  }
  return total;
}

/** Sum of the consumer's retry tiers ("<name>.retry.10s", ...); null if one is not sampled yet. */
function retryDepth(queues: ReadonlyMap<string, number | null>, consumer: string): number | null {
  const tier = new RegExp(`^${escapeRegExp(consumer)}\\.retry\\.\\d+(ms|s|m|h)$`);
  let total = 0;
  for (const [name, depth] of queues) {
    if (!tier.test(name)) continue;
    if (depth === null) return null;
    total += depth;
  }
  return total;
}

export async function readStatus(query: QueryRows, options: StatusOptions): Promise<OutboxStatus> {
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const horizonMs = options.horizonMs ?? DEFAULT_HORIZON_MS;
  const stalePendingMs = options.stalePendingMs ?? DEFAULT_STALE_PENDING_MS;
  const overdueMs = options.reconcilerOverdueMs ?? 2 * 3_600_000;

  // One after the other on one connection: opening more costs more than these take.
  const backlog = await readRelayBacklog(query, { staleAfterMs: stalePendingMs });
  const rows = options.consumers ? await readOwedConsumers(query, options.consumers, graceMs, horizonMs) : await readRegisteredConsumers(query);
  const [lastRun] = await query<{ id: string; status: string; startedAt: Date; finishedAt: Date | null; scanned: number; rescheduled: number }>(sql`
    SELECT id::text AS "id", status, started_at AS "startedAt", finished_at AS "finishedAt", scanned, rescheduled
      FROM outbox_reconciler_run WHERE status <> 'skipped' ORDER BY id DESC LIMIT 1`);
  const broker = await options.broker;

  const alerts: string[] = [];
  const notes: string[] = [];
  const stale = backlog.stale > 0;
  if (stale) alerts.push(`relay: the oldest due pending row waits for ${Math.round(backlog.oldestDueMs! / 1000)} s: is the relay running?`);
  if (backlog.failed > 0) alerts.push(`relay: ${backlog.failed} failed row(s) the broker refused: see last_error, then outbox retry-failed`);

  alerts.push(...broker.alerts);
  const partitions = await readPartitionHealth(query);
  alerts.push(...partitions.alerts);
  notes.push(...partitions.notes);
  const queues = broker.queues;
  const depth = (name: string) => queues?.get(name) ?? null;
  const graceMinutes = Math.round(graceMs / 60_000);
  const consumers = rows.map((row): ConsumerStatus => {
    const consumed = consumedQueuesOf(
      row.name,
      options.consumers?.find((consumer) => consumer.name === row.name),
      queues,
    );
    const missingQueue = consumed.find((queue) => queues && !queues.has(queue));
    const status: ConsumerStatus = {
      consumer: row.name,
      registeredAt: row.registeredAt?.toISOString() ?? null,
      notDone: row.notDone,
      inFlight: row.inFlight,
      dead: row.dead,
      parkedKeys: row.parkedKeys,
      oldestParkedAgeMs: row.oldestParkedAgeMs,
      queueDepth: depthOf(consumed, queues),
      retryDepth: queues && missingQueue === undefined ? retryDepth(queues, row.name) : null,
      dlqDepth: depth(dlqName(row.name)),
    };
    if (row.registeredAt === null)
      alerts.push(`consumer ${row.name}: never registered (no worker has started with it, nor \`outbox setup\`): nothing is owed to it yet`);
    else if (missingQueue !== undefined) {
      alerts.push(
        `consumer ${row.name}: its queue ${missingQueue} does not exist in vhost "${broker.status.vhost}": events for it are not delivered; start its worker or run \`outbox setup\``,
      );
    }
    if (row.parkedKeys > 0) {
      alerts.push(
        `consumer ${row.name}: ${row.parkedKeys} parked key(s), the oldest for ${Math.round((row.oldestParkedAgeMs ?? 0) / 1000)} s: ` +
          `their events wait; outbox parked list ${row.name}, then retry or skip`,
      );
    }
    if (status.notDone !== null && status.notDone > 0) {
      alerts.push(
        `consumer ${row.name}: ${status.notDone} message(s) owed and not done for over ${graceMinutes} min: is its worker running? ` +
          'The reconciler re-schedules them at its next run (outbox reconcile --once: now)',
      );
    }
    if ((status.dlqDepth ?? 0) > 0) alerts.push(`consumer ${row.name}: ${status.dlqDepth} dead letter(s): outbox dlq list ${row.name}`);
    return status;
  });
  if (!options.consumers) {
    notes.push('consumers from the database (outbox_consumer): owed and not done unknown without their event types; --config <file> gives those counts');
  }
  if (broker.status.management.state === 'ok') notes.push("queue depths are the management API's statistics, refreshed every ~5 s");

  // A fresh install is not overdue: without a run, the clock starts at the first consumer's registration.
  const registrations = rows.map((row) => row.registeredAt?.getTime()).filter((time) => time !== undefined);
  const since = lastRun?.startedAt.getTime() ?? (registrations.length > 0 ? Math.min(...registrations) : Date.now());
  const overdue = Date.now() - since > overdueMs;
  if (overdue) {
    alerts.push(
      lastRun
        ? `reconciler: no run since ${lastRun.startedAt.toISOString()}: are all replicas down?`
        : `reconciler: it has never run, though consumers were registered at ${new Date(since).toISOString()}: is \`outbox reconcile\` running?`,
    );
  } else if (!lastRun) {
    notes.push('reconciler: no run yet (it runs hourly once `outbox reconcile` is running; `outbox reconcile --once` runs it now)');
  }
  // failed: an outage met mid-run; abandoned: its process died mid-run (closed by the next run). Either way it did not finish.
  if (lastRun?.status === 'failed' || lastRun?.status === 'abandoned') {
    alerts.push(
      `reconciler: the last run (#${lastRun.id}) was ${lastRun.status} (${lastRun.status === 'abandoned' ? 'its process died mid-run' : 'it met an outage'}) after re-scheduling ${lastRun.rescheduled}: ` +
        'the next run does the rest; see outbox_reconciler_run.error',
    );
  }

  return {
    relay: { pending: backlog.pending, oldestPendingAgeMs: backlog.oldestDueMs, failed: backlog.failed, stale },
    consumersFrom: options.consumers ? 'config' : 'database',
    graceMs,
    consumers,
    reconciler: {
      lastRun: lastRun ? { ...lastRun, startedAt: lastRun.startedAt.toISOString(), finishedAt: lastRun.finishedAt?.toISOString() ?? null } : null,
      overdue,
    },
    broker: broker.status,
    notes,
    alerts,
  };
}
