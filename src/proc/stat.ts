/**
 * Reader for /proc/PID/stat, the cheapest complete view of one process.
 *
 * Why stat and not status: one short line, one syscall, and it carries every identity field we
 * need (ppid, pgid, session, starttime) plus RSS and CPU ticks. Field numbers below are the
 * 1-based numbers of proc(5). The comm field (2) may contain spaces and parentheses, so the
 * line is split after the LAST ')'.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** One process as /proc/PID/stat describes it. */
export interface ProcStat {
  /** Field 1. */
  pid: number;
  /** Field 2, without the parentheses; at most 15 bytes, set by the process itself (prctl PR_SET_NAME). */
  comm: string;
  /** Field 3: R, S, D, T, t, Z, X, I, ... */
  state: string;
  /** Field 4: parent PID (the thread-group id of the parent). */
  ppid: number;
  /** Field 5: process group id. */
  pgid: number;
  /** Field 6: session id. */
  sid: number;
  /** Field 14: user-mode CPU time, clock ticks. */
  utimeTicks: number;
  /** Field 15: kernel-mode CPU time, clock ticks. */
  stimeTicks: number;
  /** Field 22: start time after boot, clock ticks. With pid, the identity of a process. */
  starttime: number;
  /** Field 23: virtual memory size, bytes; 0 for a process without memory (an exiting one, a kernel thread). */
  vsizeBytes: number;
  /** Field 24: resident set size, pages. */
  rssPages: number;
}

/**
 * Parses the text of /proc/PID/stat.
 * @throws Error when the text is not a stat line.
 */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${text.slice(0, 60)}`);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const rest = text.slice(close + 2).split(' ');
  if (rest.length < 22) throw new Error(`short /proc stat line: ${text.slice(0, 60)}`);
  return {
    pid: Number(text.slice(0, open - 1)),
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    sid: Number(rest[3]),
    utimeTicks: Number(rest[11]),
    stimeTicks: Number(rest[12]),
    starttime: Number(rest[19]),
    vsizeBytes: Number(rest[20]),
    rssPages: Number(rest[21]),
  };
}

/**
 * Reads /proc/PID/stat.
 * @returns the parsed stat, or undefined when the process does not exist (anymore).
 */
export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  return parseStat(text);
}

/**
 * True for a process that has exited and only waits to be reaped (Z) or is being torn down (X).
 * The state is the main thread's: a process whose main thread called pthread_exit shows Z while
 * its other threads run, so a Z with more than one task (/proc/PID/task) is alive.
 */
export function isDead(stat: ProcStat): boolean {
  if (stat.state === 'X' || stat.state === 'x') return true;
  if (stat.state !== 'Z') return false;
  try {
    return readdirSync(`/proc/${stat.pid}/task`).length <= 1;
  } catch {
    return true;
  }
}
