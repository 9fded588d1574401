// A real pino logger whose JSON lines a test reads back: made as a user would make
// one (default serializers), so the tests see what the library writes through it.
import { pino, type Logger } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export function captureLogs(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

/** The sum of a numeric field over the lines with this message. */
export function sumOf(lines: LogLine[], msg: string, field: string, filter: (line: LogLine) => boolean = () => true): number {
  return lines.filter((line) => line.msg === msg && filter(line)).reduce((sum, line) => sum + Number(line[field] ?? 0), 0);
}
