// An app that imports the package to publish events loads the write side only: the
// broker client, the metrics library, the cron library and the WebAssembly schema
// engine are loaded by the components that use them, when they first do.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** The packages (under node_modules) loaded by importing the entry, as the package's own process sees them. */
function packagesLoadedBy(entry: string): Promise<string[]> {
  // amqplib and prom-client are CommonJS: whatever loads them, they land in require's cache.
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(entry)});
    const packages = Object.keys(createRequire(import.meta.url).cache).map((file) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(file)?.[1]);
    console.log(JSON.stringify([...new Set(packages.filter(Boolean))].sort()));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.resolve('.') }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as string[]);
    });
  });
}

describe('importing the package', () => {
  it('loads neither amqplib, prom-client nor OpenTelemetry (loaded on first use)', async () => {
    const loaded = await packagesLoadedBy(path.resolve('src/index.ts'));
    expect(loaded).toContain('pg');
    expect(loaded).not.toContain('amqplib');
    expect(loaded).not.toContain('prom-client');
    expect(loaded).not.toContain('@opentelemetry/api');
  });
});
