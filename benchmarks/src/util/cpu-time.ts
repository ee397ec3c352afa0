/**
 * CPU time of other processes, from Linux's `/proc/PID/stat`: user + system time of every thread of the
 * process, in clock ticks (`getconf CLK_TCK`, usually 100 a second, so a reading is exact to 10 ms).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Fields of `/proc/PID/stat` after the `(comm)` field, which may itself hold spaces and parentheses. */
function statFields(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU time `pid` has used so far, in ms (utime and stime, fields 14 and 15). */
export function cpuTimeMs(pid: number): number {
  const fields = statFields(pid); // fields[0] is field 3 (state)
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
}

/** The sum of {@link cpuTimeMs} over `pids`. */
export function totalCpuTimeMs(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += cpuTimeMs(pid);
  return sum;
}

/** Process ids whose parent is this process (field 4 of `/proc/PID/stat`). */
export function childPids(): Set<number> {
  const children = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      if (Number(statFields(pid)[1]) === process.pid) children.add(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return children;
}
