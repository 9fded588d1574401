// failNext(): the harness runs each consumer through a wrapper that fails the
// deliveries a test asked for, before or after the app's own handler, and otherwise
// stays out of the way (a handler wrapped in outsideTransaction stays so).
import {
  outsideTransaction,
  outsideTransactionHandler,
  type ConsumerDefinition,
  type HandlerContext,
  type OutsideTransactionContext,
} from '../catalog/defineConsumer.js';
import type { EventDefinition } from '../catalog/defineEvent.js';
import { OutboxError } from '../errors.js';
import type { FailNextOptions } from './harnessTypes.js';

/** What failNext() throws unless told otherwise: an ordinary failure, retried like any other. */
export class InjectedFailure extends Error {
  override name = 'InjectedFailure';
}

interface Fault {
  remaining: number;
  afterHandler: boolean;
  messageId: string | undefined;
  error: (attempt: number) => Error;
}

type AnyConsumer = ConsumerDefinition<readonly EventDefinition[], never>;
type AnyContext = HandlerContext<readonly EventDefinition[], unknown>;

export function createFaultPlan() {
  const faults = new Map<string, Fault[]>();

  /** The first planned fault for this delivery, used up by one. */
  function take(consumer: string, messageId: string): Fault | undefined {
    const planned = faults.get(consumer) ?? [];
    const fault = planned.find((each) => each.remaining > 0 && (each.messageId === undefined || each.messageId === messageId));
    if (fault) fault.remaining -= 1;
    return fault;
  }

  /** `run` (the app's handler) between the planned fault's throws. */
  async function withFaults(consumer: string, context: { messageId: string; attempt: number }, run: () => Promise<void>): Promise<void> {
    const fault = take(consumer, context.messageId);
    if (fault && !fault.afterHandler) throw fault.error(context.attempt);
    await run();
    if (fault?.afterHandler) throw fault.error(context.attempt);
  }

  /**
   * A handler outside the transaction: "after the handler" is the window between its external
   * call and complete(), where a worker that dies leaves the call made and the message not done.
   * So complete() fails there (its work not run); a handler that never calls it fails on return.
   */
  async function withOutsideFaults(
    consumer: string,
    context: OutsideTransactionContext<AnyContext>,
    run: (context: OutsideTransactionContext<AnyContext>) => Promise<void>,
  ): Promise<void> {
    const fault = take(consumer, context.messageId);
    if (!fault) return run(context);
    const error = fault.error(context.attempt);
    if (!fault.afterHandler) throw error;
    let completing = false;
    await run({
      ...context,
      complete: () => {
        completing = true;
        return Promise.reject(error);
      },
    });
    if (!completing) throw error;
  }

  return {
    failNext(consumer: string, times: number, known: readonly string[], options: FailNextOptions = {}): void {
      if (!known.includes(consumer)) {
        throw new OutboxError('OUTBOX_INVALID_OPTIONS', `failNext: ${JSON.stringify(consumer)} is not one of the harness's consumers (${known.join(', ')})`);
      }
      if (!Number.isSafeInteger(times) || times < 1)
        throw new OutboxError('OUTBOX_INVALID_OPTIONS', `failNext: times must be a positive integer, not ${String(times)}`);
      const { error } = options;
      const planned = faults.get(consumer) ?? [];
      planned.push({
        remaining: times,
        afterHandler: options.afterHandler ?? false,
        messageId: options.messageId,
        error:
          typeof error === 'function'
            ? error
            : (attempt) =>
                error ??
                new InjectedFailure(
                  `failure injected by the test harness into ${consumer} (attempt ${attempt}${options.afterHandler ? ', after its handler ran' : ''})`,
                ),
      });
      faults.set(consumer, planned);
    },

    clear(): void {
      faults.clear();
    },

    /** The consumer as the harness runs it: the same definition, its handler behind the plan. */
    wrap(consumer: AnyConsumer): AnyConsumer {
      const outside = outsideTransactionHandler(consumer.handle);
      const handle = outside
        ? outsideTransaction((context: OutsideTransactionContext<AnyContext>) => withOutsideFaults(consumer.name, context, outside))
        : (context: AnyContext) => withFaults(consumer.name, context, () => (consumer.handle as (context: AnyContext) => Promise<void>)(context));
      return { ...consumer, handle };
    },
  };
}

export type FaultPlan = ReturnType<typeof createFaultPlan>;
