import amqp, { type ChannelModel } from 'amqplib';
import { brokerError } from '../errorsFromDrivers.js';
import { parseAmqpUrls } from './amqpUrls.js';

/**
 * One connection for a short-lived command (setup, dlq, replay): the first node of
 * AMQP_URL that answers, each tried once with a connect timeout. When none does, the
 * typed error of the first refusal (a refused login says more than a timeout).
 */
export async function connectFirstNode(amqpUrl: string | string[], connectionName: string, timeoutMs = 10_000): Promise<ChannelModel> {
  const urls = parseAmqpUrls(amqpUrl);
  const failures: unknown[] = [];
  for (const url of urls) {
    try {
      const connection = await amqp.connect(url, { timeout: timeoutMs, clientProperties: { connection_name: connectionName } });
      // The awaited calls report a failure; an 'error' event with no listener would crash the process.
      connection.on('error', () => {});
      return connection;
    } catch (error) {
      failures.push(error);
    }
  }
  const typed = failures.map((failure) => brokerError(failure, urls.join(','))).filter((error) => error !== undefined);
  throw typed.find((error) => error.code !== 'OUTBOX_BROKER_UNREACHABLE') ?? typed[0] ?? failures[0];
}
