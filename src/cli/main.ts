#!/usr/bin/env node
// The `outbox` command. Each sub-command lives in its own module; this file only
// dispatches and turns errors into exit codes.
import { isOutboxError } from '../errors.js';
import { typedFailure } from '../errorsFromDrivers.js';
import { redactSecrets } from '../logging/redactUrl.js';
import { INIT_USAGE, runInit } from './runInit.js';
import { MIGRATE_USAGE, runMigrate } from './runMigrate.js';
import { runSetup, SETUP_USAGE } from './runSetup.js';
import { RELAY_USAGE, runRelay } from './runRelay.js';
import { RETRY_FAILED_USAGE, runRetryFailed } from './runRetryFailed.js';
import { runWorker, WORKER_USAGE } from './runWorker.js';
import { DLQ_USAGE, runDlq } from './runDlq.js';
import { RECONCILE_USAGE, runReconcile } from './runReconcile.js';
import { runStatus, STATUS_USAGE } from './runStatus.js';
import { REPLAY_USAGE, runReplay } from './runReplay.js';
import { PRUNE_USAGE, runPrune } from './runPrune.js';

const USAGE = `Usage: outbox <command> [options]

Commands:
${INIT_USAGE}
${MIGRATE_USAGE}
${SETUP_USAGE}
${RELAY_USAGE}
${RETRY_FAILED_USAGE}
${WORKER_USAGE}
${DLQ_USAGE}
${RECONCILE_USAGE}
${STATUS_USAGE}
${REPLAY_USAGE}
${PRUNE_USAGE}

Environment: DATABASE_URL, AMQP_URL, LOG_LEVEL (default info).`;

// A command returns its exit code when it has one to say (e.g. `status` with alerts); nothing means 0.
const commands: Record<string, (args: string[]) => Promise<void | number>> = {
  init: runInit,
  migrate: runMigrate,
  setup: runSetup,
  relay: runRelay,
  'retry-failed': runRetryFailed,
  worker: runWorker,
  dlq: runDlq,
  reconcile: runReconcile,
  status: runStatus,
  replay: runReplay,
  prune: runPrune,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  const run = commands[command];
  if (!run) {
    process.stderr.write(`outbox: unknown command "${command}"\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return (await run(rest)) ?? 0;
  } catch (error) {
    // Our errors, and the drivers' first-run failures typed here, carry a code and say
    // what to do; anything else is a bug and shows its stack.
    const urls = { databaseUrl: process.env.DATABASE_URL, amqpUrl: process.env.AMQP_URL };
    const typed = isOutboxError(error) ? error : typedFailure(error, urls);
    if (typed) {
      const secrets = [urls.databaseUrl ?? '', ...(urls.amqpUrl ?? '').split(',')];
      process.stderr.write(`outbox ${command}: ${typed.code}: ${redactSecrets(typed.message, secrets)}\n`);
    } else if (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`outbox ${command}: ${error.message}\n\n${USAGE}\n`);
      return 2;
    } else {
      process.stderr.write(`outbox ${command}: unexpected error: ${error instanceof Error ? error.stack : String(error)}\n`);
    }
    return 1;
  }
}

// Exit explicitly: the WebAssembly schema engine leaves a timer behind that would
// otherwise keep a finished command alive for several seconds. pino writes
// synchronously, so no log line is lost.
process.exit(await main(process.argv.slice(2)));
