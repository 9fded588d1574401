// CPU time of processes, read from /proc (Linux): the benchmark's child processes by
// pid, the servers by command name (every PostgreSQL backend, RabbitMQ's beam.smp).
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

function statOf(pid: number): { comm: string; cpuMs: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command sits in parentheses and may hold spaces: the fields follow its last ')'.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime: fields 14 and 15 of the whole line, 12 and 13 after the command.
    return { comm, cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND };
  } catch {
    return undefined; // gone
  }
}

/** CPU ms used so far by the process `pid` (0 once it is gone). */
export function cpuMsOfPid(pid: number): number {
  return statOf(pid)?.cpuMs ?? 0;
}

/** CPU ms used so far by every live process whose command is `comm`, by pid. */
export function cpuMsByCommand(comm: string): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = statOf(Number(entry));
    if (stat?.comm === comm) byPid.set(Number(entry), stat.cpuMs);
  }
  return byPid;
}

/** CPU ms the processes named `comm` used between two readings (a process started in between counts from 0). */
export function cpuMsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}
