// The relay's batch loops share work without all polling: one loop polls at
// pollIntervalMs, the others wait to be woken, by a NOTIFY or by a loop whose batch
// came back full (more is waiting). Idle, a relay makes about one claim per poll
// interval, not one per loop; on a backlog every loop works.
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRelay, type Relay, type RelayBatchReport } from '../../src/index.js';
import { captureLogs } from '../support/captureLogs.js';
import { createTestBroker, eventually, type TestBroker } from '../support/testBroker.js';
import { createTestDatabase, type TestDatabase } from '../support/testDatabase.js';

let db: TestDatabase;
let broker: TestBroker;
const relays: Relay[] = [];

beforeAll(async () => {
  [db, broker] = await Promise.all([createTestDatabase(import.meta.url), createTestBroker('batch-loops')]);
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
});
afterAll(async () => {
  await broker?.delete();
  await db?.drop();
});

/** Three batch loops (maxInFlight / batchSize); the polling one every `pollIntervalMs`, the others 10 times as long (5 s at most). */
function startRelay(registry = new Registry(), pollIntervalMs = 100): Relay {
  const relay = createRelay({
    databaseUrl: db.url,
    amqpUrl: broker.url,
    logger: captureLogs('warn').logger,
    pollIntervalMs,
    batchSize: 100,
    maxInFlight: 300,
    metrics: registry,
  });
  relays.push(relay);
  return relay;
}

const claimsOf = async (registry: Registry) =>
  (await registry.getSingleMetric('outbox_relay_claims_total')!.get()).values.reduce((sum, value) => sum + value.value, 0);

describe('the relay’s batch loops', () => {
  it('idle, poll with one loop: about one claim per poll interval, not one per loop', async () => {
    const registry = new Registry();
    await startRelay(registry).start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = await claimsOf(registry);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const claims = (await claimsOf(registry)) - before;
    // One loop every 100 ms (20) and two waiting up to 1 s each (4); three polling loops made 60.
    expect(claims).toBeGreaterThanOrEqual(5);
    expect(claims).toBeLessThanOrEqual(32);
  });

  it('on a backlog, a full batch wakes another loop at once: batches overlap before the others would have woken by themselves', async () => {
    // Loop 0 polls every 500 ms; the others wait 5 s unless woken.
    const relay = startRelay(new Registry(), 500);
    const batches: { endedAt: number; durationMs: number }[] = [];
    relay.on('batch:published', (report: RelayBatchReport) => {
      const phases = report.phasesMs!;
      batches.push({ endedAt: performance.now(), durationMs: phases.claim + phases.publish + phases.confirm + phases.settle + phases.commit });
    });
    await relay.start();
    const startedAt = performance.now();
    // Every loop's first claim (at start) found nothing: all are waiting now.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await db.pool.query(
      `INSERT INTO outbox_message (id, event_type, ordering_key, payload)
       SELECT gen_random_uuid(), 'test.anything', gen_random_uuid()::text, to_jsonb(n) FROM generate_series(1, 10000) AS n`,
    );
    await eventually(
      async () => (await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox_message WHERE status = 'published'")).rows[0]!.n === 10_000,
      60_000,
      'the backlog published',
    );
    // Before the waiting loops' own 5 s were up, more than one batch was in flight at some moment.
    const early = batches.filter(({ endedAt }) => endedAt < startedAt + 4_500);
    const mostAtOnce = Math.max(
      0,
      ...early.map(({ endedAt }) => early.filter((other) => other.endedAt - other.durationMs < endedAt && other.endedAt >= endedAt).length),
    );
    expect(mostAtOnce).toBeGreaterThanOrEqual(2);
  });
});
