// Typed events of a long-running component, emitted so that a listener that throws
// cannot break the component (graphile-worker's rule): the throw is reported, the
// emit returns. Metrics and summaries listen here instead of being called from the
// control flow.
import { EventEmitter } from 'node:events';

/** Each event's name to its arguments (an interface works: no index signature needed). */
export type EventMap<M> = { [E in keyof M]: unknown[] };

export interface ComponentEvents<M extends EventMap<M>> {
  on<E extends keyof M & string>(event: E, listener: (...args: M[E]) => void): void;
  off<E extends keyof M & string>(event: E, listener: (...args: M[E]) => void): void;
  emit<E extends keyof M & string>(event: E, ...args: M[E]): void;
  /** Someone listens: an event whose payload costs something to build is built only then. */
  listens(event: keyof M & string): boolean;
}

export function createComponentEvents<M extends EventMap<M>>(onListenerError: (error: unknown, event: string) => void): ComponentEvents<M> {
  const emitter = new EventEmitter();
  return {
    on(event, listener) {
      emitter.on(event, listener as (...args: unknown[]) => void);
    },
    off(event, listener) {
      emitter.off(event, listener as (...args: unknown[]) => void);
    },
    listens: (event) => emitter.listenerCount(event) > 0,
    emit(event, ...args) {
      // Each listener on its own: one that throws neither stops the others nor the caller.
      for (const listener of emitter.listeners(event)) {
        try {
          (listener as (...values: unknown[]) => void)(...args);
        } catch (error) {
          onListenerError(error, event);
        }
      }
    },
  };
}
