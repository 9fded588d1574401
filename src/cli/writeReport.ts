// A command's report goes to stdout, its logs to stderr: `outbox … --json | jq` works.

export const JSON_OPTION = { json: { type: 'boolean', default: false } } as const;

/** The report on stdout: one JSON document with --json, else a line (or lines) of text for a person. */
export function writeReport(json: boolean, report: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${text}\n`);
}
