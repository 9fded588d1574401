// A queue that refuses every publish, as a full quorum queue with
// reject-publish does, for tests of what publishers do when the broker says no.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { expect } from 'vitest';
import { eventually, managementApi, takeAll, type TestBroker } from './testBroker.js';

/** Messages ready in a queue, read on a connection of its own (a test may close the others). */
export async function queueDepth(broker: TestBroker, queue: string): Promise<number> {
  const connection = await amqp.connect(broker.url);
  try {
    return (await (await connection.createChannel()).checkQueue(queue)).messageCount;
  } finally {
    await connection.close();
  }
}

/**
 * Makes a queue refuse every publish (as a full one would), until the returned
 * function lifts the limit (and, with `drain`, takes the fillers out, as an
 * operator emptying a full queue would: a quorum queue lets refused publishers in
 * again when a message leaves it).
 */
export async function refusePublishes(broker: TestBroker, queue: string) {
  const policy = `/policies/${encodeURIComponent(broker.vhost)}/refuse-${randomUUID().slice(0, 8)}`;
  await managementApi('PUT', policy, {
    pattern: `^${queue.replace(/\./g, '\\.')}$`,
    'apply-to': 'queues',
    definition: { 'max-length': 0, overflow: 'reject-publish' },
  });
  const info = async () =>
    (await (await managementApi('GET', `/queues/${encodeURIComponent(broker.vhost)}/${encodeURIComponent(queue)}`)).json()) as {
      effective_policy_definition?: Record<string, unknown>;
    };
  await eventually(async () => (await info()).effective_policy_definition?.['max-length'] === 0, 20_000, 'the policy in force');
  // A quorum queue enforces the limit once it is exceeded: fill it until it refuses.
  const confirms = await broker.connection.createConfirmChannel();
  const refused = () =>
    new Promise<boolean>((resolve) => confirms.sendToQueue(queue, Buffer.from('filler'), { messageId: 'filler' }, (error: unknown) => resolve(Boolean(error))));
  for (let tries = 0; !(await refused()); tries++) expect(tries).toBeLessThan(5);
  await confirms.close();
  return {
    fillers: await queueDepth(broker, queue),
    async lift(options: { drain: boolean }) {
      await managementApi('DELETE', policy);
      if (options.drain) await takeAll(broker.channel, queue);
    },
  };
}
