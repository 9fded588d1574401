import { OutboxError } from '../errors.js';
import type { EventDefinition } from './defineEvent.js';

/** The events an app publishes and consumes, looked up by type and version. */
export interface EventCatalog<TEvents extends readonly EventDefinition[] = readonly EventDefinition[]> {
  readonly events: TEvents;
  /** The catalog's definition for a definition object or a type name (then its latest version). */
  resolve(event: EventDefinition | string): EventDefinition;
  /** The definition of an exact (type, version), or undefined: for decoding received messages. */
  find(type: string, version: number): EventDefinition | undefined;
  readonly types: readonly string[];
}

export function createEventCatalog<const TEvents extends readonly EventDefinition[]>(events: TEvents): EventCatalog<TEvents> {
  const byKey = new Map<string, EventDefinition>();
  const latestByType = new Map<string, EventDefinition>();
  for (const event of events) {
    if (typeof event?.type !== 'string' || typeof event.schema?.safeParse !== 'function') {
      throw new OutboxError('OUTBOX_INVALID_CATALOG', 'every catalog entry must come from defineEvent()');
    }
    const key = `${event.type}@${event.version}`;
    if (byKey.has(key)) {
      throw new OutboxError('OUTBOX_INVALID_CATALOG', `event ${event.type} version ${event.version} is defined twice`);
    }
    byKey.set(key, event);
    const latest = latestByType.get(event.type);
    if (!latest || latest.version < event.version) latestByType.set(event.type, event);
  }

  return {
    events,
    types: [...latestByType.keys()],
    find: (type, version) => byKey.get(`${type}@${version}`),
    resolve(event) {
      if (typeof event === 'string') {
        const latest = latestByType.get(event);
        if (!latest) {
          throw new OutboxError('OUTBOX_UNKNOWN_EVENT', `event type ${JSON.stringify(event)} is not in the outbox's event catalog`);
        }
        return latest;
      }
      const known = typeof event?.type === 'string' ? byKey.get(`${event.type}@${event.version}`) : undefined;
      if (known !== event) {
        // A look-alike definition (same type, another schema object) would bypass the catalog's schema.
        const name = typeof event?.type === 'string' ? `${event.type} version ${String(event.version)}` : String(event);
        throw new OutboxError(
          'OUTBOX_UNKNOWN_EVENT',
          known
            ? `event ${name} is not the definition registered in the catalog (define each event once and import it)`
            : `event ${name} is not in the outbox's event catalog`,
        );
      }
      return known;
    },
  };
}
