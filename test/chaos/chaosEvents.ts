// The chaos workload's catalog: an item event every consumer owes something to,
// and an event no queue is bound to (it must end in outbox.unroutable).
import { z } from 'zod';
import { defineEvent } from '../../src/index.js';

export const chaosItem = defineEvent(
  'chaos.item',
  z.object({ itemId: z.string().uuid(), key: z.string(), keySeq: z.number().int().nonnegative(), poison: z.boolean().default(false) }),
);
export const orphanEvent = defineEvent('orphan.event', z.object({ itemId: z.string().uuid() }));

export const chaosEvents = [chaosItem, orphanEvent] as const;

/**
 * The side effects each item is owed, one consumer each. `chaos-effect` fails at
 * CHAOS_FAIL_RATE and refuses poison items; `chaos-ordered` is an ordered consumer
 * (fails at CHAOS_FAIL_RATE too, handles poison): its effects must follow each key's order.
 */
export const CHAOS_CONSUMERS = ['chaos-effect', 'chaos-audit', 'chaos-ordered'] as const;
export const ORDERED_CHAOS_CONSUMERS = ['chaos-ordered'] as const;

/** The workload's own tables: the business row, and one row per side effect done (no unique key, so duplicates show). */
export const CHAOS_TABLES_SQL = `
  CREATE TABLE chaos_item (id uuid PRIMARY KEY, key text NOT NULL, key_seq int NOT NULL, poison boolean NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE chaos_effect (id bigserial PRIMARY KEY, consumer text NOT NULL, message_id uuid NOT NULL, item_id uuid NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE INDEX ON chaos_effect (item_id);`;
