import { describe, expect, it } from 'vitest';
import { messageIdTime, newMessageId } from '../../src/outbox/newMessageId.js';

describe('newMessageId', () => {
  it('is a UUID version 7 carrying the millisecond timestamp', () => {
    const at = Date.UTC(2026, 10, 22, 12, 0, 0, 123);
    const id = newMessageId(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  });

  it('sorts by time across milliseconds and does not repeat', () => {
    const earlier = newMessageId(1_000);
    const later = newMessageId(1_001);
    expect(earlier < later).toBe(true);
    const ids = new Set(Array.from({ length: 10_000 }, () => newMessageId(5_000)));
    expect(ids.size).toBe(10_000);
  });

  it('gives back the write time of its own ids, and nothing for other ids', () => {
    const at = Date.UTC(2026, 11, 6, 20, 0, 0, 456);
    expect(messageIdTime(newMessageId(at))).toBe(at);
    expect(messageIdTime('6f1c2f0e-8a3b-4c1d-9e2f-0123456789ab')).toBeUndefined(); // a UUIDv4
    expect(messageIdTime('order-42')).toBeUndefined();
  });
});
