// The error a component logs: the thrown error's type, message, stack, cause and
// fields, with the passwords of its URLs hidden, through a real pino logger.
import { describe, expect, it } from 'vitest';
import { OutboxError } from '../../src/errors.js';
import { componentLogger } from '../../src/logging/componentLogger.js';
import { loggableError } from '../../src/logging/loggableError.js';
import { captureLogs } from '../support/captureLogs.js';

const URL_WITH_SECRET = 'amqp://app:Hunter2pw@broker.internal:5672/shop';

interface SerializedError {
  type: string;
  message: string;
  stack: string;
  cause?: SerializedError;
  [field: string]: unknown;
}

function logged(error: unknown, secrets: string[] = []): SerializedError {
  const { logger, lines } = captureLogs('info');
  componentLogger(logger, { component: 'test' }).error({ err: loggableError(error, secrets) }, 'failed');
  return lines[0]!.err as SerializedError;
}

describe('a logged error', () => {
  it('keeps type, message, stack, cause and own fields, with URL passwords hidden everywhere', () => {
    const cause = Object.assign(new TypeError(`cannot reach ${URL_WITH_SECRET}`), { code: 'ECONNREFUSED' });
    const error = new OutboxError('OUTBOX_INVALID_CONFIG', `AMQP_URL ${URL_WITH_SECRET} refused`, { cause });
    const err = logged(error, [URL_WITH_SECRET]);
    expect(err).toMatchObject({ type: 'OutboxError', code: 'OUTBOX_INVALID_CONFIG', message: 'AMQP_URL amqp://app:***@broker.internal:5672/shop refused' });
    expect(err.stack).toMatch(/^OutboxError: AMQP_URL amqp:\/\/app:\*\*\*@broker\.internal:5672\/shop refused\n\s+at /);
    expect(err.cause).toMatchObject({ type: 'TypeError', code: 'ECONNREFUSED', message: 'cannot reach amqp://app:***@broker.internal:5672/shop' });
    expect(err.cause!.stack).toMatch(/^TypeError: cannot reach .*\n\s+at /);
    expect(JSON.stringify(err)).not.toContain('Hunter2pw');
  });

  it('gives a thrown non-Error a type, its text and a stack', () => {
    const err = logged('plain string thrown');
    expect(err).toMatchObject({ type: 'NonErrorThrown', message: 'plain string thrown' });
    expect(err.stack).toMatch(/\n\s+at /);
    expect(logged({ reason: 'object thrown' }).message).toBe('{"reason":"object thrown"}');
  });

  it('keeps a cause that is not an Error', () => {
    const err = logged(new Error('outer', { cause: 'a string cause' }));
    expect(err.cause).toMatchObject({ type: 'NonErrorThrown', message: 'a string cause' });
  });
});
