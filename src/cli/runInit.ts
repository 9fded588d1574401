// `outbox init`: adds the outbox to the app's Prisma schema and migrations (see
// src/migrations/initApp.ts). Its report goes to stdout (--json for a machine).
import { parseArgs } from 'node:util';
import { initApp, type InitAppReport } from '../migrations/initApp.js';

export const INIT_USAGE = `  init      Add the outbox to your Prisma project, or bring it up to date after an upgrade
            (idempotent): its models into your schema (a managed block, or outbox.prisma in a
            schema folder), "partialIndexes" in the generator, its migrations into your
            migrations folder after your own. An app without migrations gets a baseline first
            (DATABASE_URL needed for that; the database is not changed).
            --schema <file|dir>  default: prisma.config.ts "schema", prisma/schema.prisma, prisma/schema
            --migrations <dir>   default: prisma.config.ts "migrations.path", else beside the schema
            --no-baseline        never write a baseline of your own models
            --dry-run            show what would change        --json`;

function printReport(report: InitAppReport, dryRun: boolean): void {
  const lines: string[] = [];
  const verb = dryRun ? 'would write' : 'wrote';
  if (report.changedFiles.length === 0) {
    lines.push(`the outbox is up to date in ${report.schemaPath} and ${report.migrationsDir}: nothing to do`);
  } else {
    for (const file of report.changedFiles) lines.push(`${verb} ${file}`);
  }
  if (report.baseline) {
    lines.push(
      '',
      `${report.baseline} creates your existing models. If your database already has those tables`,
      `(e.g. made with \`prisma db push\`), mark it applied instead of running it:`,
      `  npx outbox migrate --mark-applied ${report.baseline}     (or: npx prisma migrate resolve --applied ${report.baseline})`,
    );
  }
  if (report.changedFiles.length > 0 && !dryRun) {
    lines.push('', 'next: npx prisma generate, then npx outbox migrate (or npx prisma migrate deploy)');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function runInit(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      schema: { type: 'string' },
      migrations: { type: 'string' },
      'no-baseline': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const report = await initApp({
    schema: values.schema,
    migrations: values.migrations,
    databaseUrl: process.env.DATABASE_URL,
    baseline: !values['no-baseline'],
    dryRun: values['dry-run'],
  });
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else printReport(report, values['dry-run']);
}
