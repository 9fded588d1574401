#!/usr/bin/env node
// The `outbox` command. Each sub-command lives in its own module; this file only
// dispatches and turns errors into exit codes.
import { parseArgs } from 'node:util';
import { isOutboxError } from '../errors.js';
import { createLogger } from '../logging/createLogger.js';
import { migrateDatabase } from '../migrations/migrateDatabase.js';
import { readDatabaseUrl } from './readDatabaseUrl.js';
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
  migrate   Apply the Prisma migrations folder to DATABASE_URL (works without
            Prisma's downloadable engines; records them as \`prisma migrate deploy\`).
            --migrations <dir>   default prisma/migrations
            --schema <path>      schema file or folder, default prisma/schema
${RELAY_USAGE}
${RETRY_FAILED_USAGE}
${WORKER_USAGE}
${DLQ_USAGE}
${RECONCILE_USAGE}
${STATUS_USAGE}
${REPLAY_USAGE}
${PRUNE_USAGE}

Environment: DATABASE_URL, AMQP_URL, LOG_LEVEL (default info).`;

async function runMigrate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { migrations: { type: 'string' }, schema: { type: 'string' } },
    strict: true,
  });
  const logger = createLogger();
  const result = await migrateDatabase({
    databaseUrl: readDatabaseUrl(),
    migrationsDir: values.migrations,
    schemaPath: values.schema,
    logger,
  });
  logger.info(
    { appliedMigrations: result.appliedMigrations, createdDatabase: result.createdDatabase },
    result.appliedMigrations.length === 0 ? 'database is up to date' : `applied ${result.appliedMigrations.length} migration(s)`,
  );
}

// A command returns its exit code when it has one to say (e.g. `status` with alerts); nothing means 0.
const commands: Record<string, (args: string[]) => Promise<void | number>> = {
  migrate: runMigrate,
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
    // Our errors carry a code and an already-redacted message; anything else is a bug.
    if (isOutboxError(error)) {
      process.stderr.write(`outbox ${command}: ${error.code}: ${error.message}\n`);
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
