// Without @opentelemetry/api installed (resolving it fails, as in an app without it),
// tracing is a no-op: nothing thrown, nothing made up, the API never loaded.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('tracing without @opentelemetry/api', () => {
  it('starts no span, returns no trace context, and loads nothing', async () => {
    const script = `
      import { createRequire } from 'node:module';
      const { traceWrite, traceSends, traceConsume } = await import(${JSON.stringify(path.resolve('src/tracing/tracing.ts'))});
      const message = { id: '01a24d13-0ade-7f82-9055-615b20c9e9d4', eventType: 'order.placed' };
      const answers = {
        write: traceWrite(message, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01') ?? null,
        sends: traceSends('outbox.events') ?? null,
        consume: traceConsume('send-email', { ...message, traceparent: undefined, attempt: 1 }) ?? null,
        loaded: Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('@opentelemetry')),
      };
      console.log(JSON.stringify(answers));`;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--import', path.resolve('test/support/hideOpenTelemetry.ts'), '--input-type=module', '-e', script],
        (error, out, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(out)),
      );
    });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ write: null, sends: null, consume: null, loaded: false });
  });
});
