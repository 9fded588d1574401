import type { Channel, ChannelModel } from 'amqplib';

/**
 * Reads how many messages wait in the unroutable queue (events no consumer queue
 * was bound for) with a passive declare, on a channel of its own kept open on the
 * relay's connection: a passive declare of a missing queue closes its channel, and
 * that must never be the channel a batch is publishing on.
 */
export function createUnroutableDepthReader(queue: string): { read(model: ChannelModel): Promise<number> } {
  let open: { model: ChannelModel; channel: Promise<Channel> } | undefined;
  return {
    async read(model) {
      if (open?.model !== model) {
        const channel = model.createChannel().then((created) => {
          // A refused check (e.g. the queue was deleted) closes the channel: the next read opens another.
          created.on('error', () => {});
          created.on('close', () => {
            if (open?.channel === channel) open = undefined;
          });
          return created;
        });
        open = { model, channel };
        channel.catch(() => {
          if (open?.channel === channel) open = undefined;
        });
      }
      const { messageCount } = await (await open.channel).checkQueue(queue);
      return messageCount;
    },
  };
}
