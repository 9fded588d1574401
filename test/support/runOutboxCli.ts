// One `outbox` command to its end, as a user runs it: exit code, stdout (reports)
// and stderr (logs and errors) apart. An env value of undefined removes the variable.
import { execFile } from 'node:child_process';
import path from 'node:path';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The sources through tsx; a test of what users run passes a built entry instead (plain node, no loader). */
const FROM_SOURCES = ['--import', 'tsx', path.resolve('src/cli/main.ts')];

export function runOutboxCli(args: string[], env: Record<string, string | undefined> = {}, cwd = process.cwd(), entry = FROM_SOURCES): Promise<CliResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  return new Promise((resolve) => {
    execFile(process.execPath, [...entry, ...args], { env: childEnv, cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
