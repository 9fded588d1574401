// The operators' audit log (outbox_audit_log): every action the console or the CLI
// takes on the pipeline, with who asked, from where, what and what it did.
import { sqltag as sql } from '@prisma/client/runtime/client';
import { hostname, userInfo } from 'node:os';
import type { QueryRows } from '../database/sqlStore.js';

export type AuditAction = 'dlq.replay' | 'dlq.purge' | 'relay.retry-failed';

/** Who acts: the console's signed-in user or the CLI's OS user, and from where. */
export interface Actor {
  actor: string;
  source: string;
}

export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  source: string;
  action: AuditAction;
  target: string;
  details: Record<string, unknown>;
}

/** The CLI's actor: the OS user on this host. */
export function cliActor(): Actor {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers).
  }
  return { actor: user, source: `cli@${hostname()}` };
}

/** Records one action. Parameters: actor, source, action, target, details. */
export async function recordAudit(query: QueryRows, who: Actor, action: AuditAction, target: string, details: Record<string, unknown>): Promise<void> {
  await query(sql`
    INSERT INTO outbox_audit_log (actor, source, action, target, details)
    VALUES (${who.actor.slice(0, 255)}, ${who.source.slice(0, 255)}, ${action}, ${target.slice(0, 255)}, ${JSON.stringify(details)}::jsonb)
    RETURNING 1`);
}

/** The latest entries, newest first. Parameters: limit. */
export async function readAuditLog(query: QueryRows, limit = 100): Promise<AuditEntry[]> {
  const rows = await query<Omit<AuditEntry, 'at'> & { at: Date }>(sql`
    SELECT id::text AS "id", at, actor, source, action, target, details
      FROM outbox_audit_log ORDER BY at DESC, id DESC LIMIT ${limit}`);
  return rows.map((row) => ({ ...row, at: row.at.toISOString() }));
}
