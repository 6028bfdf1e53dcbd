/**
 * Proportional set size from /proc/PID/smaps_rollup (Linux >= 4.14).
 *
 * PSS divides every shared page among the processes that map it, so the PSS of a tree sums to
 * what the tree really holds; RSS counts a shared page once per process. smaps_rollup walks every
 * mapping of the process: it costs hundreds of times more than /proc/PID/stat, which is why
 * callers read it only when the cheap RSS sum says a limit may be exceeded.
 */
import { readFileSync } from 'node:fs';
import { isDead, readStat } from './stat.js';
import { pageSizeBytes } from './system.js';

/**
 * Reads the PSS of one process.
 * @returns bytes, or undefined when the process is gone or its smaps_rollup is unreadable
 *          (another user's process, or a zombie whose memory is already released).
 */
export function readPssBytes(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
  } catch {
    return undefined;
  }
  const match = /^Pss:\s+(\d+) kB/m.exec(text);
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * A process's PSS in bytes; where smaps_rollup has no PSS (another user's process without
 * CAP_SYS_PTRACE), its RSS re-read now (proc(5) stat field 24, pages). The re-read matters: a process
 * that exited since it was seen has no memory left, and counting a stale RSS would add every exiting
 * worker's shared pages back to a tree's sum. smaps_rollup is read by pid: the starttime is checked
 * before and after it, so that a pid reused meanwhile by another process counts nothing.
 * @param starttime clock ticks after boot (stat field 22): 0 bytes for a pid now naming another process, or a zombie
 */
export function pssOrFreshRssBytes(pid: number, starttime: number): number {
  const before = readStat(pid);
  if (!before || before.starttime !== starttime || isDead(before)) return 0;
  const pss = readPssBytes(pid);
  const after = readStat(pid);
  if (!after || after.starttime !== starttime) return 0;
  if (pss !== undefined) return pss;
  if (isDead(after)) return 0;
  return after.rssPages * pageSizeBytes();
}
