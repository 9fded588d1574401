// Where `outbox status` looks for the management API, and as whom: derived from
// AMQP_URL, or RABBITMQ_MANAGEMENT_URL with AMQP_URL's credentials when it names none.
import { describe, expect, it } from 'vitest';
import { resolveManagementEndpoint } from '../../src/broker/resolveManagementEndpoint.js';
import { isOutboxError } from '../../src/errors.js';

describe('the management endpoint', () => {
  it('is derived from the first node of AMQP_URL: host, port 15672, credentials, vhost', () => {
    const endpoints = resolveManagementEndpoint({ AMQP_URL: 'amqp://app:s%40cret@node-a:5672/shop,amqp://other:x@node-b:5672/shop' });
    expect(endpoints.vhost).toBe('shop');
    expect(endpoints.amqpUrls).toHaveLength(2);
    expect(endpoints.management).toEqual({
      baseUrl: 'http://node-a:15672',
      username: 'app',
      password: 's@cret',
      source: 'AMQP_URL',
      credentialsFrom: 'AMQP_URL',
    });
  });

  it('uses the default vhost "/" when AMQP_URL names none, and an encoded vhost as RabbitMQ reads it', () => {
    expect(resolveManagementEndpoint({ AMQP_URL: 'amqp://u:p@host' }).vhost).toBe('/');
    expect(resolveManagementEndpoint({ AMQP_URL: 'amqp://u:p@host/' }).vhost).toBe('/');
    expect(resolveManagementEndpoint({ AMQP_URL: 'amqp://u:p@host/%2F' }).vhost).toBe('/');
    expect(resolveManagementEndpoint({ AMQP_URL: 'amqp://u:p@host/a%2Fb' }).vhost).toBe('a/b');
  });

  it('takes guest/guest when AMQP_URL has no credentials (as amqplib does), and https on 15671 for amqps', () => {
    expect(resolveManagementEndpoint({ AMQP_URL: 'amqp://127.0.0.1:5672' }).management).toMatchObject({
      username: 'guest',
      password: 'guest',
      credentialsFrom: 'default',
    });
    expect(resolveManagementEndpoint({ AMQP_URL: 'amqps://u:p@broker.example:5671' }).management?.baseUrl).toBe('https://broker.example:15671');
  });

  it("RABBITMQ_MANAGEMENT_URL without credentials (as docker-compose sets it) takes those of AMQP_URL; the vhost stays AMQP_URL's", () => {
    const endpoints = resolveManagementEndpoint({ AMQP_URL: 'amqp://app:pw@rabbitmq:5672/shop', RABBITMQ_MANAGEMENT_URL: 'http://rabbitmq:15672' });
    expect(endpoints.vhost).toBe('shop');
    expect(endpoints.management).toEqual({
      baseUrl: 'http://rabbitmq:15672',
      username: 'app',
      password: 'pw',
      source: 'RABBITMQ_MANAGEMENT_URL',
      credentialsFrom: 'AMQP_URL',
    });
  });

  it('RABBITMQ_MANAGEMENT_URL with credentials uses its own; its path is a prefix (a proxy), not a vhost', () => {
    const endpoints = resolveManagementEndpoint({
      AMQP_URL: 'amqp://app:pw@rabbitmq:5672',
      RABBITMQ_MANAGEMENT_URL: 'https://monitor:m0n@proxy.example/rabbitmq/',
    });
    expect(endpoints.vhost).toBe('/');
    expect(endpoints.management).toEqual({
      baseUrl: 'https://proxy.example/rabbitmq',
      username: 'monitor',
      password: 'm0n',
      source: 'RABBITMQ_MANAGEMENT_URL',
      credentialsFrom: 'RABBITMQ_MANAGEMENT_URL',
    });
  });

  it('nothing to derive from without either variable; a malformed override is a typed error', () => {
    expect(resolveManagementEndpoint({})).toEqual({ amqpUrls: undefined, vhost: '/', management: undefined });
    let error: unknown;
    try {
      resolveManagementEndpoint({ AMQP_URL: 'amqp://u:p@host', RABBITMQ_MANAGEMENT_URL: 'amqp://u:p@host:15672' });
    } catch (caught) {
      error = caught;
    }
    expect(isOutboxError(error, 'OUTBOX_INVALID_CONFIG')).toBe(true);
  });
});
