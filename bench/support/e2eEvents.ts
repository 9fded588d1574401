// The end-to-end benchmark's catalog: one thin event per placed order.
import { z } from 'zod';
import { defineEvent } from '../../src/index.js';

export const orderPlaced = defineEvent('order.placed', z.object({ orderId: z.string().uuid(), totalCents: z.number().int() }));
export const e2eEvents = [orderPlaced] as const;

/** Where the consumer records when it handled each event (the benchmark's own table, in its scratch database). */
export const HANDLED_TABLE_DDL = 'CREATE TABLE IF NOT EXISTS bench_e2e_handled (message_id uuid PRIMARY KEY, handled_at timestamptz NOT NULL)';
