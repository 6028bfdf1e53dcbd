/**
 * The only function in the product that calls kill(2).
 *
 * Rules (DESIGN section 8): never a pid <= 1 (0 and -1 mean "my group" and "everyone" to kill(2),
 * 1 is init), never a negative pid (a whole group by number: its members cannot be identity-checked),
 * and never a process whose starttime no longer matches the member we mean. The check and the
 * kill are two syscalls, so a PID could in principle be reused between them; pidfd signalling,
 * which closes that window, is a later backend.
 */
import { readStat } from '../proc/stat.js';
import type { Member } from '../track/member.js';

/** What became of one signal. */
export type SignalOutcome = 'sent' | 'gone' | 'refused';

/** Thrown for a pid that must never be signalled; a bug in the caller, not a runtime condition. */
export class UnsafePidError extends Error {
  override name = 'UnsafePidError';
}

/**
 * Sends `signal` to one member after re-reading its identity.
 * @returns 'sent'; 'gone' when the process exited or its pid now belongs to another process;
 *          'refused' when the kernel said EPERM (another user's process)
 * @throws UnsafePidError for a pid that is not an integer > 1
 */
export function signalMember(member: Pick<Member, 'pid' | 'starttime'>, signal: NodeJS.Signals): SignalOutcome {
  if (!Number.isInteger(member.pid) || member.pid <= 1) throw new UnsafePidError(`refusing to signal pid ${member.pid}`);
  const stat = readStat(member.pid);
  if (!stat || stat.starttime !== member.starttime) return 'gone';
  try {
    process.kill(member.pid, signal);
    return 'sent';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'refused' : 'gone';
  }
}
