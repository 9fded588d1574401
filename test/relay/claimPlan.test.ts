// The claim must walk the pending index in order and stop at its LIMIT, whatever the
// table's statistics say. A relay behind after an outage meets exactly the statistics
// that mislead the planner: taken when few rows were pending (or never taken: fresh
// rows, autovacuum off or not yet run). With them the planner fetched every pending row,
// probed each for its key's head and sorted them all: 1 s a claim at 300,000 rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sql } from '@prisma/client/runtime/client';
import { claimStatement, configureBatchTransaction } from '../../src/relay/claimBatch.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Alias?: string;
  'Subplan Name'?: string;
  'Actual Rows': number;
  Plans?: PlanNode[];
}

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(import.meta.url);
});
afterAll(() => db.drop());

const BATCH = 500;

async function insertPending(count: number, status = 'pending'): Promise<void> {
  await db.pool.query(
    `INSERT INTO outbox_message (id, event_type, ordering_key, payload, status)
     SELECT gen_random_uuid(), 'order.placed', gen_random_uuid()::text, jsonb_build_object('orderId', gen_random_uuid(), 'customerId', gen_random_uuid(), 'note', repeat('x', n % 60)), $2::outbox_message_status
       FROM generate_series(1, $1) AS n`,
    [count, status],
  );
}

/** The plan of the claim as the relay runs it (in a configured batch transaction, or not). */
async function claimPlan(configured: boolean): Promise<PlanNode> {
  const client = await db.pool.connect();
  const query = async <Row>(statement: Sql): Promise<Row[]> => (await client.query(statement.text, statement.values)).rows as Row[];
  try {
    await client.query('BEGIN');
    if (configured) await configureBatchTransaction(query, 10_000);
    const explain = claimStatement(BATCH, BATCH + 1);
    const [row] = await query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>({ ...explain, text: `EXPLAIN (ANALYZE, FORMAT JSON) ${explain.text}` } as Sql);
    return row!['QUERY PLAN'][0].Plan;
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** The node that finds the heads: the CTE's subtree, down to its scan of `c`. */
function headsPlan(plan: PlanNode): PlanNode {
  const cte = nodes(plan).find((node) => node['Subplan Name'] === 'CTE heads');
  expect(cte, JSON.stringify(plan)).toBeDefined();
  return cte!;
}

/** How the heads were found: sorts, the scan of the pending rows, and how many rows it read. */
function describeHeads(plan: PlanNode): { sorts: number; scanOfPending: string; rowsRead: number } {
  const heads = nodes(headsPlan(plan));
  const scan = heads.find((node) => node.Alias === 'c')!;
  return {
    sorts: heads.filter((node) => node['Node Type'] === 'Sort').length,
    scanOfPending: `${scan['Node Type']} ${scan['Index Name'] ?? ''}`.trim(),
    rowsRead: scan['Actual Rows'],
  };
}

describe('the claim plan on a backlog the statistics do not know about', () => {
  it('walks the pending index in order on fresh rows that were never analyzed', async () => {
    await insertPending(20_000);
    // The plan we guard against: without the batch transaction's settings the planner,
    // believing a few rows, reads them all and sorts.
    const unguarded = describeHeads(await claimPlan(false));
    expect(unguarded.sorts).toBeGreaterThan(0);
    expect(unguarded.rowsRead).toBe(20_000);

    // The relay's: the heads it asked for, read in index order.
    expect(describeHeads(await claimPlan(true))).toEqual({ sorts: 0, scanOfPending: 'Index Scan outbox_message_pending_due_idx', rowsRead: BATCH + 1 });
  });
});
