// Runs tsc, as an app would, on one file of an app's code: for tests of what the
// compiler tells a user. The file sits under this repository's node_modules, so it
// resolves zod as an app does; it imports this package by absolute path.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repo = path.resolve(fileURLToPath(import.meta.url), '../../..');

export interface CompilerError {
  /** The app's source line the error is on, trimmed. */
  line: string;
  /** tsc's message, with its elaboration lines. */
  message: string;
}

/** The errors tsc reports in the app file, in source order (errors in files it imports are left out). */
export async function compileApp(source: string): Promise<CompilerError[]> {
  const cache = path.join(repo, 'node_modules/.cache');
  await mkdir(cache, { recursive: true });
  const directory = await mkdtemp(path.join(cache, 'outbox-compile-app-'));
  try {
    await writeFile(path.join(directory, 'app.ts'), source);
    await writeFile(
      path.join(directory, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2023',
          lib: ['ES2023'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          noEmit: true,
          typeRoots: [path.join(repo, 'node_modules/@types')],
          types: ['node'],
        },
        files: ['app.ts', path.join(repo, 'src/migrations/webassembly.d.ts')],
      }),
    );
    const tsc = path.join(repo, 'node_modules/typescript/bin/tsc');
    const output = await run(process.execPath, [tsc, '-p', '.', '--pretty', 'false'], { cwd: directory }).then(
      () => '',
      (failure: { stdout: string }) => failure.stdout,
    );
    const sourceLines = source.split('\n');
    // "app.ts(row,col): error TSxxxx: message", then indented elaboration lines.
    return output
      .split(/\n(?=\S)/)
      .filter((entry) => entry.startsWith('app.ts('))
      .map((entry) => ({ line: sourceLines[Number(/^app\.ts\((\d+),/.exec(entry)![1]) - 1]!.trim(), message: entry.trim() }));
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
