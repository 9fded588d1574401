// Sending held messages again once their predecessor is done (ordered consumers).
// It runs inside the predecessor's transaction, before its commit, and waits for the
// broker's confirms: if the worker dies or the commit fails after the send, the
// messages arrive to find their predecessor not done and are held again (and the
// predecessor's own redelivery releases them once more); if the send fails, the
// transaction rolls back and they stay held. Either way none is left held with
// nothing on its way to release it.
import { consumerEntry } from '../broker/consumerTopology.js';
import type { BrokerConnection } from '../broker/brokerConnection.js';
import { republishMessages } from '../broker/republishToConsumer.js';
import { HEADER_RELEASED_AT } from '../broker/wireFormat.js';
import type { ResolvedConsumer } from '../catalog/defineConsumer.js';
import type { StoredMessage } from '../database/storedMessage.js';
import { createRateLimiter } from '../timing/rateLimiter.js';

/** Sends held messages again, in the order given; rejects with ReleaseFailed unless the broker confirmed them all. */
export type ReleaseHeld = (consumer: ResolvedConsumer, messages: readonly StoredMessage[]) => Promise<void>;

/** The broker did not take the released messages: the infrastructure's fault, not the handler's (not an attempt). */
export class ReleaseFailed extends Error {
  override name = 'ReleaseFailed';
}

const UNLIMITED = createRateLimiter(0);

export function createReleaseHeld(broker: BrokerConnection, appId: string): ReleaseHeld {
  return async (consumer, messages) => {
    const marker = { header: HEADER_RELEASED_AT, value: new Date().toISOString(), appId };
    let channel;
    try {
      channel = await broker.confirmChannel();
    } catch (error) {
      throw new ReleaseFailed('no broker channel to release held messages on', { cause: error });
    }
    // One channel, in seq order: they reach the key's partition in that order.
    const outcome = await republishMessages(channel, consumerEntry(consumer), messages, marker, UNLIMITED, { confirmTimeoutMs: 10_000 });
    if (outcome.stoppedBy === undefined) return;
    broker.discardChannel(channel);
    throw new ReleaseFailed(`${outcome.unconfirmed.length} of ${messages.length} released messages not confirmed (${outcome.stoppedBy})`);
  };
}
