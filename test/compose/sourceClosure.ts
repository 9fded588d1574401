// The repository's TypeScript a process loads from one entry file: the entry and
// every file it imports by a relative path, transitively (type-only imports are
// erased, so they do not count). What the compose test reads to learn which
// environment variables a container's process reads and which options it takes.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface SourceClosure {
  /** Repository-relative paths of the files loaded, entry first. */
  files: string[];
  /** Relative imports that name no file: "from -> specifier". */
  missing: string[];
  /** The text of every file, concatenated. */
  text: string;
}

// `import x from './a.js'`, `export { y } from './b.js'`, `import './c.js'`, `import('./d.js')`; not `import type`.
const STATIC_IMPORT = /^\s*(import|export)\s+(?!type\s)(?:[^'"`;]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** Folders made at build time (`npm run db:generate`), not part of the repository. */
const GENERATED = ['generated/'];

function resolveImport(root: string, fromFile: string, specifier: string): string | undefined {
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), specifier));
  const candidates = [target, target.replace(/\.js$/, '.ts'), target.replace(/\.mjs$/, '.mts'), `${target}.ts`, `${target}/index.ts`];
  return candidates.find((candidate) => existsSync(path.join(root, candidate)) && /\.(m|c)?[tj]s$/.test(candidate));
}

export function sourceClosure(root: string, entries: string[]): SourceClosure {
  const files: string[] = [];
  const missing: string[] = [];
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (files.includes(file)) continue;
    files.push(file);
    const text = readFileSync(path.join(root, file), 'utf8');
    const specifiers = [...text.matchAll(STATIC_IMPORT)].map((match) => match[2]!).concat([...text.matchAll(DYNAMIC_IMPORT)].map((match) => match[1]!));
    for (const specifier of specifiers) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      if (GENERATED.some((folder) => target.startsWith(folder))) continue;
      const resolved = resolveImport(root, file, specifier);
      if (resolved === undefined) missing.push(`${file} -> ${specifier}`);
      else queue.push(resolved);
    }
  }
  return { files, missing, text: files.map((file) => readFileSync(path.join(root, file), 'utf8')).join('\n') };
}

/** The environment variables the code reads: `process.env.X`, and `env.X` where a function takes the environment. */
export function environmentVariablesRead(text: string): Set<string> {
  return new Set([...text.matchAll(/\benv\.([A-Z][A-Z0-9_]*)\b/g)].map((match) => match[1]!));
}
