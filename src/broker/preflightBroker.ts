import { isOutboxError } from '../errors.js';
import { connectFirstNode } from './connectFirstNode.js';

/**
 * Before a long-running process starts: a broker that refuses the login or the
 * virtual host is a mistake to report now (OUTBOX_BROKER_LOGIN_REFUSED /
 * OUTBOX_BROKER_ACCESS_REFUSED), not an outage to retry quietly. One that does not
 * answer is left to the process's own reconnecting.
 */
export async function preflightBroker(amqpUrl: string | string[]): Promise<void> {
  let connection: Awaited<ReturnType<typeof connectFirstNode>>;
  try {
    connection = await connectFirstNode(amqpUrl, 'outbox-preflight', 5000);
  } catch (error) {
    if (isOutboxError(error) && error.code !== 'OUTBOX_BROKER_UNREACHABLE') throw error;
    return;
  }
  await connection.close().catch(() => {});
}
