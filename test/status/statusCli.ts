// `outbox status` as a child process, with stdout and stderr kept apart (the
// report must be alone on stdout), run from a working directory of the test's
// choosing (one without an outbox.config.* for the no-config mode).
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repository = fileURLToPath(new URL('../..', import.meta.url));
const entry = path.join(repository, 'src/cli/main.ts');
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A fresh, empty folder: no outbox.config.* to find there. */
export const emptyFolder = () => mkdtempSync(path.join(tmpdir(), 'outbox-status-'));

export interface StatusRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runStatusCli(args: string[], env: Record<string, string | undefined>, cwd = repository): Promise<StatusRun> {
  // Only what the test gives: no AMQP_URL or RABBITMQ_MANAGEMENT_URL leaking in from the shell.
  const base = { ...process.env };
  for (const name of ['AMQP_URL', 'RABBITMQ_MANAGEMENT_URL', 'DATABASE_URL']) delete base[name];
  const child = spawn(process.execPath, ['--import', tsxLoader, entry, 'status', ...args], {
    cwd,
    env: { ...base, ...Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined)) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** `status --json`, its stdout parsed whole (it fails if anything else is printed there). */
export async function statusReport(args: string[], env: Record<string, string | undefined>, cwd?: string) {
  const run = await runStatusCli([...args, '--json'], env, cwd);
  let report;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${run.code}):\n${run.stdout}\n--- stderr:\n${run.stderr}`);
  }
  return { ...run, report };
}
