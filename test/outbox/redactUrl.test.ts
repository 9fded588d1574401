import { describe, expect, it } from 'vitest';
import { redactSecrets, redactUrl } from '../../src/logging/redactUrl.js';

describe('redactUrl', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactUrl('postgresql://app:s3cr%40t@db.internal:5432/shop?schema=public')).toBe('postgresql://app:***@db.internal:5432/shop?schema=public');
    expect(redactUrl('amqps://relay:hunter2@mq:5671/vhost')).toBe('amqps://relay:***@mq:5671/vhost');
    expect(redactUrl('postgresql://127.0.0.1/db')).toBe('postgresql://127.0.0.1/db');
    expect(redactUrl('not a url user:pw@host')).toBe('not a url user:pw@host');
    expect(redactUrl('weird://user:pw@[bad')).toBe('weird://user:***@[bad');
  });

  it('removes the password from a driver message, raw or inside the URL', () => {
    const url = 'postgresql://app:p%C3%A4ss@db:5432/shop';
    const message = `could not connect to ${url} (password "päss" rejected)`;
    const redacted = redactSecrets(message, [url]);
    expect(redacted).not.toContain('päss');
    expect(redacted).not.toContain('p%C3%A4ss');
    expect(redacted).toContain('postgresql://app:***@db:5432/shop');
  });
});
