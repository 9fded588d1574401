// publishBatch's bookkeeping against a confirm channel the test drives: every
// message ends in exactly one list, whatever the broker answers, when, or whether
// the channel closes. The real broker's behaviour is covered by test/relay.
import { EventEmitter } from 'node:events';
import type { Options } from 'amqplib';
import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../../src/database/storedMessage.js';
import { publishBatch } from '../../src/relay/publishBatch.js';
import { createRateLimiter } from '../../src/timing/rateLimiter.js';

type Callback = (error: unknown) => void;

/** A confirm channel whose answers the test gives: ack, nack, close; publish() says "full" after `bufferSize` until drain. */
class DrivenChannel extends EventEmitter {
  readonly published: { routingKey: string; options: Options.Publish; callback: Callback }[] = [];
  closed = false;
  private unanswered = new Map<string, Callback>();
  constructor(private readonly bufferSize = Infinity) {
    super();
  }
  publish(_exchange: string, routingKey: string, _content: Buffer, options: Options.Publish, callback: Callback): boolean {
    if (this.closed) throw new Error('Channel closed');
    this.published.push({ routingKey, options, callback });
    this.unanswered.set(String(options.messageId), callback);
    return this.unanswered.size < this.bufferSize;
  }
  answer(id: string, error?: Error): void {
    const callback = this.unanswered.get(id)!;
    this.unanswered.delete(id);
    callback(error ?? null);
  }
  drain(): void {
    this.emit('drain');
  }
  /** As amqplib does: the unanswered callbacks fail first, then 'close'. */
  close(): void {
    this.closed = true;
    for (const callback of this.unanswered.values()) callback(new Error('channel closed'));
    this.unanswered.clear();
    this.emit('close');
  }
}

const messages = (count: number): StoredMessage[] =>
  Array.from({ length: count }, (_, index) => ({
    id: `m${index + 1}`,
    seq: String(index + 1),
    eventType: 'order.placed',
    eventVersion: 1,
    orderingKey: index % 2 === 0 ? `key-${index}` : null,
    payload: '{}',
    headers: index === 0 ? '{"correlationId":"req-1","tenant":"a"}' : '{}',
    createdAt: new Date('2026-12-01T00:00:00Z'),
    attempts: 1,
  }));

const options = (confirmTimeoutMs = 1_000) => ({ exchange: 'outbox.events', appId: 'outbox-relay', confirmTimeoutMs, rateLimiter: createRateLimiter(0) });
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('publishBatch', () => {
  it('streams every message without waiting for confirms; all acked: all confirmed, with the wire properties', async () => {
    const channel = new DrivenChannel();
    const batch = publishBatch(channel, messages(3), options());
    await tick();
    expect(channel.published.map((entry) => entry.options.messageId)).toEqual(['m1', 'm2', 'm3']);
    expect(channel.published[0]!.routingKey).toBe('order.placed');
    expect(channel.published[0]!.options).toMatchObject({
      type: 'order.placed',
      persistent: true,
      correlationId: 'req-1',
      headers: { tenant: 'a', 'outbox-event-version': 1, 'outbox-ordering-key': 'key-0' },
    });
    for (const id of ['m3', 'm1', 'm2']) channel.answer(id);
    expect(await batch).toEqual({ confirmed: ['m1', 'm2', 'm3'], nacked: [], timedOut: [], interrupted: [], writtenMs: expect.any(Number) as number });
  });

  it('a nack and a confirm that never comes: nacked and timed out, the others confirmed', async () => {
    const channel = new DrivenChannel();
    const batch = publishBatch(channel, messages(3), options(100));
    await tick();
    channel.answer('m1');
    channel.answer('m2', new Error('message nacked'));
    expect(await batch).toEqual({ confirmed: ['m1'], nacked: ['m2'], timedOut: ['m3'], interrupted: [], writtenMs: expect.any(Number) as number });
  });

  it("the channel closing mid-batch: what was answered stands, the rest is interrupted (not the messages' fault)", async () => {
    const channel = new DrivenChannel(2);
    const batch = publishBatch(channel, messages(4), options());
    await tick();
    // Back-pressure after two: the third waits for drain; the channel closes instead.
    expect(channel.published).toHaveLength(2);
    channel.answer('m1');
    channel.close();
    expect(await batch).toEqual({
      confirmed: ['m1'],
      nacked: [],
      timedOut: [],
      interrupted: expect.arrayContaining(['m2', 'm3', 'm4']) as string[],
      writtenMs: expect.any(Number) as number,
    });
  });

  it('back-pressure: pauses when publish() says the buffer is full, goes on at drain', async () => {
    const channel = new DrivenChannel(2);
    const batch = publishBatch(channel, messages(3), options());
    await tick();
    expect(channel.published).toHaveLength(2);
    channel.answer('m1');
    channel.answer('m2');
    channel.drain();
    await tick();
    expect(channel.published).toHaveLength(3);
    channel.answer('m3');
    expect((await batch).confirmed).toEqual(['m1', 'm2', 'm3']);
    expect(channel.listenerCount('close') + channel.listenerCount('drain')).toBe(0);
  });
});
