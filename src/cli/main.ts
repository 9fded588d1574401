#!/usr/bin/env node
// The `outbox` command. Each sub-command lives in its own module; this file only
// dispatches and turns errors into exit codes.
import { isOutboxError } from '../errors.js';
import { typedFailure } from '../errorsFromDrivers.js';
import { redactSecrets } from '../logging/redactUrl.js';
interface Command {
  /** Returns its exit code when it has one to say (e.g. `status` with alerts); nothing means 0. */
  run(args: string[]): Promise<void | number>;
  usage: string;
}

// Each command's module is loaded only when it runs: a short command (status, a
// health check) does not pay for the others' dependencies (the schema engine, cron).
const commands: Record<string, () => Promise<Command>> = {
  init: async () => import('./runInit.js').then((m) => ({ run: m.runInit, usage: m.INIT_USAGE })),
  migrate: async () => import('./runMigrate.js').then((m) => ({ run: m.runMigrate, usage: m.MIGRATE_USAGE })),
  setup: async () => import('./runSetup.js').then((m) => ({ run: m.runSetup, usage: m.SETUP_USAGE })),
  relay: async () => import('./runRelay.js').then((m) => ({ run: m.runRelay, usage: m.RELAY_USAGE })),
  'retry-failed': async () => import('./runRetryFailed.js').then((m) => ({ run: m.runRetryFailed, usage: m.RETRY_FAILED_USAGE })),
  worker: async () => import('./runWorker.js').then((m) => ({ run: m.runWorker, usage: m.WORKER_USAGE })),
  dlq: async () => import('./runDlq.js').then((m) => ({ run: m.runDlq, usage: m.DLQ_USAGE })),
  parked: async () => import('./runParked.js').then((m) => ({ run: m.runParked, usage: m.PARKED_USAGE })),
  reconcile: async () => import('./runReconcile.js').then((m) => ({ run: m.runReconcile, usage: m.RECONCILE_USAGE })),
  journey: async () => import('./runJourney.js').then((m) => ({ run: m.runJourney, usage: m.JOURNEY_USAGE })),
  console: async () => import('./runConsole.js').then((m) => ({ run: m.runConsole, usage: m.CONSOLE_USAGE })),
  status: async () => import('./runStatus.js').then((m) => ({ run: m.runStatus, usage: m.STATUS_USAGE })),
  replay: async () => import('./runReplay.js').then((m) => ({ run: m.runReplay, usage: m.REPLAY_USAGE })),
  prune: async () => import('./runPrune.js').then((m) => ({ run: m.runPrune, usage: m.PRUNE_USAGE })),
  partitions: async () => import('./runPartitions.js').then((m) => ({ run: m.runPartitions, usage: m.PARTITIONS_USAGE })),
};

async function usage(): Promise<string> {
  const all = await Promise.all(Object.values(commands).map((load) => load()));
  return `Usage: outbox <command> [options]

Commands:
${all.map((command) => command.usage).join('\n')}

Environment: DATABASE_URL, AMQP_URL, LOG_LEVEL (default info; debug shows every delivery),
OUTBOX_SUMMARY_INTERVAL (relay and worker summaries, default 60s), RABBITMQ_MANAGEMENT_URL (status, console),
OUTBOX_CONSOLE_TOKEN (console).`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${await usage()}\n`);
    return command === undefined ? 2 : 0;
  }
  const load = commands[command];
  if (!load) {
    process.stderr.write(`outbox: unknown command "${command}"\n\n${await usage()}\n`);
    return 2;
  }
  try {
    return (await (await load()).run(rest)) ?? 0;
  } catch (error) {
    // Our errors, and the drivers' first-run failures typed here, carry a code and say
    // what to do; anything else is a bug and shows its stack.
    const urls = { databaseUrl: process.env.DATABASE_URL, amqpUrl: process.env.AMQP_URL };
    const typed = isOutboxError(error) ? error : typedFailure(error, urls);
    if (typed) {
      const secrets = [urls.databaseUrl ?? '', ...(urls.amqpUrl ?? '').split(',')];
      process.stderr.write(`outbox ${command}: ${typed.code}: ${redactSecrets(typed.message, secrets)}\n`);
    } else if (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`outbox ${command}: ${error.message}\n\nUsage: outbox ${command} [options]\n${(await load()).usage}\n`);
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
