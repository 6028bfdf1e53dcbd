import { isDead, readStat } from './stat.js';
import { bootId } from './system.js';

/** The facts a run record keeps of its wrapper. */
export interface WrapperFacts {
  boot_id: string;
  wrapper_pid: number;
  /** Clock ticks after boot. */
  wrapper_starttime: number;
}

/**
 * Whether a run's wrapper is alive: the same boot (/proc/sys/kernel/random/boot_id) and a process
 * at the recorded pid with the recorded starttime (proc(5) stat field 22). Hostname and boot id
 * together identify the host's life: after a reboot nothing of an older run can be alive.
 */
export function wrapperAlive(run: WrapperFacts): boolean {
  if (run.boot_id !== bootId()) return false;
  if (!Number.isInteger(run.wrapper_pid) || run.wrapper_pid <= 0) return false;
  const stat = readStat(run.wrapper_pid);
  // A wrapper killed a moment ago is a zombie until its parent waits for it: dead all the same.
  return stat !== undefined && stat.starttime === run.wrapper_starttime && !isDead(stat);
}
