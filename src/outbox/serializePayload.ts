import { OutboxError } from '../errors.js';

/**
 * The payload as JSON text, refusing anything JSON.stringify would silently drop or
 * change (so a consumer never receives something other than what was published):
 * BigInt, functions, symbols, cycles, NaN and Infinity, undefined array items, and
 * objects that are neither plain nor serialise themselves (Map, Set, class instances).
 * Objects with toJSON (Date) are serialised by it, as JSON.stringify does. Strings
 * (values and keys) must be text PostgreSQL's jsonb can store: no U+0000, no
 * unpaired surrogate.
 */
export function serializePayload(eventType: string, payload: unknown, maxBytes: number): string {
  assertJsonSafe(eventType, payload, [], new Set());
  const json = JSON.stringify(payload);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw new OutboxError(
      'OUTBOX_PAYLOAD_TOO_LARGE',
      `event ${eventType}: payload is ${bytes} bytes, over the limit of ${maxBytes} (maxPayloadBytes); ` +
        'publish ids and let consumers load the data (thin events)',
    );
  }
  return json;
}

function formatPath(path: (string | number)[]): string {
  return path.reduce<string>((text, segment) => (typeof segment === 'number' ? `${text}[${segment}]` : `${text}.${segment}`), '$');
}

function assertJsonSafe(eventType: string, value: unknown, path: (string | number)[], ancestors: Set<object>): void {
  const fail = (what: string): never => {
    throw new OutboxError('OUTBOX_PAYLOAD_NOT_SERIALIZABLE', `event ${eventType}: payload at ${formatPath(path)} is ${what}, which JSON cannot carry`, {
      issues: [{ path, message: what }],
    });
  };
  switch (typeof value) {
    case 'string':
      return assertStorableText(value, fail);
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(String(value));
      return;
    case 'bigint':
      return fail('a BigInt');
    case 'function':
      return fail('a function');
    case 'symbol':
      return fail('a symbol');
    case 'undefined':
      return fail('undefined');
    case 'object':
      break;
  }
  if (value === null) return;
  const object = value;
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    // What JSON.stringify will write is what toJSON returns: judge that (it may throw,
    // e.g. a Date method on an object that only inherits from Date).
    let replacement: unknown;
    try {
      replacement = (object as { toJSON(key: string): unknown }).toJSON(String(path.at(-1) ?? ''));
    } catch (error) {
      return fail(`an object whose toJSON throws (${error instanceof Error ? error.message : String(error)})`);
    }
    if (object instanceof Date && replacement === null) fail('an invalid Date');
    if (replacement === object) fail('an object whose toJSON returns itself');
    return assertJsonSafe(eventType, replacement, path, ancestors);
  }
  if (ancestors.has(object)) fail('a circular reference');
  ancestors.add(object);
  if (Array.isArray(object)) {
    object.forEach((item, index) => assertJsonSafe(eventType, item, [...path, index], ancestors));
  } else {
    const prototype: unknown = Object.getPrototypeOf(object);
    if (prototype !== Object.prototype && prototype !== null) {
      fail(`an instance of ${object.constructor?.name ?? 'a class'}`);
    }
    for (const [key, item] of Object.entries(object)) {
      // JSON.stringify leaves out undefined properties, which is what an optional field means.
      if (item === undefined) continue;
      assertStorableText(key, (what) => fail(`a key that is ${what}`));
      assertJsonSafe(eventType, item, [...path, key], ancestors);
    }
  }
  ancestors.delete(object);
}

// String.prototype.isWellFormed, which the ES2023 typings this project targets do not declare.
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why PostgreSQL could not store this text (in text or jsonb columns), or undefined when it can. */
export function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'a string containing U+0000 (PostgreSQL cannot store it)';
  if (UNPAIRED_SURROGATE.test(text)) return 'a string with an unpaired surrogate (not valid Unicode)';
  return undefined;
}

function assertStorableText(text: string, fail: (what: string) => never): void {
  const problem = unstorableText(text);
  if (problem) fail(problem);
}
