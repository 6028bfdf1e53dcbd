import { isDead, readStat } from './stat.js';
import { bootId, pidNamespace } from './system.js';

/** The facts a run record keeps of its wrapper. */
export interface WrapperFacts {
  boot_id: string;
  /** Null for records that predate it: judged as in this namespace. */
  pid_ns: string | null;
  wrapper_pid: number;
  /** Clock ticks after boot. */
  wrapper_starttime: number;
}

/**
 * Whether a run's wrapper is alive: the same boot (/proc/sys/kernel/random/boot_id) and a process
 * at the recorded pid with the recorded starttime (proc(5) stat field 22). Hostname and boot id
 * together identify the host's life: after a reboot nothing of an older run can be alive. A run of another
 * PID namespace (a container sharing the host's hostname and kernel) counts as alive: it is not ours to judge.
 */
export function wrapperAlive(run: WrapperFacts): boolean {
  if (run.boot_id !== bootId()) return false;
  // Another PID namespace: its pids are not ours to read, so it is never judged dead from here.
  if (run.pid_ns !== null && run.pid_ns !== undefined && run.pid_ns !== pidNamespace()) return true;
  if (!Number.isInteger(run.wrapper_pid) || run.wrapper_pid <= 0) return false;
  return processAlive(run.wrapper_pid, run.wrapper_starttime);
}

/**
 * Whether the process (pid, starttime in clock ticks, proc(5) stat field 22) is alive. One killed a
 * moment ago is a zombie until its parent waits for it: dead all the same.
 */
export function processAlive(pid: number, starttime: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.starttime === starttime && !isDead(stat);
}

/**
 * Whether the process (pid, starttime) is alive and still has its memory. A process on its way out
 * drops its memory (exit_mm) before it becomes a zombie: from then on /proc/PID/environ reads empty
 * and stat field 23 (vsize) is 0, while its state may still be R or D. Such a process will never run
 * user code again, so what its environment cannot say about it no longer matters.
 */
export function processAliveWithMemory(pid: number, starttime: number): boolean {
  const stat = readStat(pid);
  // A main thread that called pthread_exit shows Z and vsize 0 while its other threads run on:
  // isDead counts it alive, and so must this.
  return stat !== undefined && stat.starttime === starttime && !isDead(stat) && (stat.vsizeBytes > 0 || stat.state === 'Z');
}
