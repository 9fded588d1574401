// The demo's own processes (API, providers, relays, workers, reconciler), each a
// real child process logging JSON lines to a file of its own, so the demo can
// SIGKILL and restart them the way a crash and an orchestrator would.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface DemoProcess {
  readonly name: string;
  readonly logFile: string;
  /** Starts it (again) and resolves once its log shows `ready`. */
  start(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  running(): boolean;
}

const READY_TIMEOUT_MS = 60_000;

export function demoProcess(options: {
  name: string;
  script: string;
  args?: string[];
  env: Record<string, string>;
  logFile: string;
  ready: RegExp;
}): DemoProcess {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const logLength = () => {
    try {
      return readFileSync(options.logFile, 'utf8').length;
    } catch {
      return 0;
    }
  };

  return {
    name: options.name,
    logFile: options.logFile,
    async start() {
      const from = logLength();
      const log = openSync(options.logFile, 'a');
      const started = spawn(process.execPath, ['--import', 'tsx', options.script, ...(options.args ?? [])], {
        // A summary each second: the tour adds up the workers' duplicate counts from them.
        env: { ...process.env, LOG_LEVEL: 'info', OUTBOX_SUMMARY_INTERVAL: '1s', ...options.env },
        stdio: ['ignore', log, log],
      });
      closeSync(log);
      child = started;
      exited = new Promise((resolve) => started.once('exit', () => resolve()));
      const deadline = Date.now() + READY_TIMEOUT_MS;
      while (!options.ready.test(readFileSync(options.logFile, 'utf8').slice(from))) {
        if (started.exitCode !== null || started.signalCode !== null) throw new Error(`${options.name} exited while starting; see ${options.logFile}`);
        if (Date.now() > deadline) throw new Error(`${options.name} not ready after ${READY_TIMEOUT_MS / 1000} s; see ${options.logFile}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async kill(signal) {
      if (!this.running()) return;
      child!.kill(signal);
      const timeout = setTimeout(() => child?.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timeout);
    },
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
  };
}

/** Stops them all gracefully (SIGTERM; SIGKILL after 15 s). */
export async function stopAll(processes: readonly DemoProcess[]): Promise<void> {
  await Promise.all(processes.map((each) => each.kill('SIGTERM')));
}
