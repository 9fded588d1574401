// The import graph of src/ runs one way: each folder imports only from its own
// folder and from lower layers (docs/architecture.md#layers). Read from the sources.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');

/** Lower numbers are lower layers; one layer's folders never import each other. */
const LAYERS: Record<string, number> = {
  'errors.ts': 0,
  'defaults.ts': 0,
  timing: 0,
  logging: 0,
  health: 0,
  lifecycle: 1,
  'errorsFromDrivers.ts': 1,
  database: 2,
  metrics: 2,
  tracing: 2,
  broker: 3,
  catalog: 4,
  outbox: 5,
  consumers: 6,
  relay: 6,
  operations: 7,
  reconciler: 7,
  config: 8,
  migrations: 9,
  console: 9,
  testing: 9,
  cli: 10,
  'index.ts': 10,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The folder (or root file) a path under src/ belongs to. */
const unitOf = (file: string) => path.relative(SRC, file).split(path.sep)[0]!;

describe('layers', () => {
  it('every import in src/ goes to the same folder or a lower layer', () => {
    const wrongWay: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const from = unitOf(file);
      expect(LAYERS[from], `${from} has a layer`).toBeDefined();
      for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
        const to = unitOf(path.resolve(path.dirname(file), specifier!.replace(/\.js$/, '.ts')));
        if (to === from) continue;
        expect(LAYERS[to], `${to} has a layer`).toBeDefined();
        if (LAYERS[to]! >= LAYERS[from]!) wrongWay.push(`${path.relative(SRC, file)} -> ${specifier}`);
      }
    }
    expect(wrongWay).toEqual([]);
  });

  it('nothing outside src/testing imports the test kit (a second entry: the main one never loads it)', () => {
    const importers = sourceFiles(SRC).filter(
      (file) => unitOf(file) !== 'testing' && /(?:from|import\()\s*'(?:\.\.?\/)+testing\//.test(readFileSync(file, 'utf8')),
    );
    expect(importers.map((file) => path.relative(SRC, file))).toEqual([]);
  });
});
