// Real faults, injected while the load runs: each fires once the load has sent
// its share of the requests. Nothing here tells the system under test anything.
import type pg from 'pg';
import type { BrokerAdmin } from './brokerAdmin.js';
import type { DemoProcess } from './processes.js';

export interface ChaosStep {
  at: number;
  name: string;
  run(): Promise<string>;
}

export interface ChaosTargets {
  pool: pg.Pool;
  runStart: Date;
  broker: BrokerAdmin;
  providersUrl: string;
  /** Undefined when the processes run elsewhere (--attach). */
  relay?: DemoProcess;
  worker?: DemoProcess;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function crashAndRestart(target: DemoProcess | undefined): Promise<string> {
  if (!target) return 'skipped: the processes run elsewhere (--attach)';
  await target.kill('SIGKILL');
  await sleep(2_000);
  await target.start();
  return `SIGKILLed ${target.name} mid-stream; restarted after 2 s`;
}

export function chaosSteps(targets: ChaosTargets): ChaosStep[] {
  return [
    { at: 0.15, name: 'relay crash', run: () => crashAndRestart(targets.relay) },
    {
      at: 0.3,
      name: 'broker connections closed',
      async run() {
        return `every connection of the relays, workers and reconciler closed: ${await targets.broker.closeConnections()}`;
      },
    },
    {
      at: 0.45,
      name: 'partner webhook down',
      async run() {
        const response = await fetch(`${targets.providersUrl}/admin/outage`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ provider: 'webhook', durationMs: 4_000 }),
        });
        if (!response.ok) throw new Error(`providers answered ${response.status}`);
        return 'the webhook answers 503 for 4 s: notify-webhook fails and retries until it succeeds';
      },
    },
    { at: 0.6, name: 'worker crash', run: () => crashAndRestart(targets.worker) },
    {
      at: 0.7,
      name: 'messages lost',
      async run() {
        // As if the queue had been wiped: order.placed events published in this
        // window never reach send-order-confirmation. The reconciler must notice.
        await targets.broker.unbind('send-order-confirmation', 'outbox.events', 'order.placed');
        await sleep(2_000);
        await targets.broker.bind('send-order-confirmation', 'outbox.events', 'order.placed');
        return 'send-order-confirmation unbound for 2 s: the events of that window never reach it; the reconciler must re-schedule them';
      },
    },
    {
      at: 0.85,
      name: 'duplicate deliveries',
      async run() {
        // What a relay that died between publish and mark leaves behind: rows
        // already delivered, pending again, so every consumer gets them twice.
        const { rowCount } = await targets.pool.query(
          `UPDATE outbox_message SET status = 'pending' WHERE id IN (
             (SELECT id FROM outbox_message WHERE status = 'published' AND created_at >= $1 AND event_type = 'user.signed-up' ORDER BY seq LIMIT 10)
             UNION ALL
             (SELECT id FROM outbox_message WHERE status = 'published' AND created_at >= $1 AND event_type = 'order.placed' ORDER BY seq LIMIT 10))`,
          [targets.runStart],
        );
        return `${rowCount} delivered events set back to pending: the relay publishes them again, every consumer sees them twice`;
      },
    },
  ];
}

/** Returns the load's progress callback, and a promise for the steps' outcomes once the load is done. */
export function scheduleChaos(steps: ChaosStep[], total: number, report: (line: string) => void) {
  const pending = [...steps];
  const running: Promise<void>[] = [];
  return {
    progress(sent: number) {
      while (pending.length > 0 && sent >= pending[0]!.at * total) {
        const step = pending.shift()!;
        const started = Date.now();
        running.push(
          step.run().then(
            (outcome) => report(`chaos: ${step.name}: ${outcome} (${((Date.now() - started) / 1000).toFixed(1)} s)`),
            (error: unknown) => report(`chaos: ${step.name} FAILED to inject: ${error instanceof Error ? error.message : String(error)}`),
          ),
        );
      }
    },
    done: () => Promise.all(running),
  };
}
