import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs rabbitmqctl against the local node; returns its stdout. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-q', ...args], { timeout: 120_000 });
  return stdout;
}

/** Puts the broker back as a test found it: the app running and publishing unblocked. */
export async function restoreBroker(memoryHighWatermark: string): Promise<void> {
  await rabbitmqctl('start_app').catch(() => {});
  await rabbitmqctl('await_startup');
  await rabbitmqctl('set_vm_memory_high_watermark', memoryHighWatermark);
}
