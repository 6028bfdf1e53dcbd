/**
 * The only module in the product that calls kill(2) or pidfd_send_signal(2).
 *
 * Rules (docs/design.md §8): never a pid <= 1 (0 and -1 mean "my group" and "everyone" to kill(2),
 * 1 is init), never a process whose starttime no longer matches the member we mean, and a whole
 * group (a negative pid) only through signalGroup, for a group whose every process the caller has
 * just checked to be the run's (run-groups.ts), never pgid <= 1 and never our own group.
 *
 * Where the kernel has pidfds (Linux 5.3) and koffi loads, the pidfd is opened first and the
 * starttime read after it: a member started before the open, so if /proc/PID still shows its
 * starttime, the pidfd refers to that very process and the signal cannot reach a successor that
 * reused the number. Without pidfds, the re-check and kill(2) are two syscalls, and a PID reused
 * in between (pid_max 32768 makes it rare, not impossible) could be hit. A pidfd call that fails
 * for another reason than the process being gone (EMFILE, a sandbox's EPERM or ENOSYS) sends the
 * signal the older way all the same, and says so once per process (a process warning, which the
 * CLIs print as one line on stderr, src/cli/output.ts).
 */
import { readStat } from '../proc/stat.js';
import { libc, SyscallError, type Libc } from '../sys/libc.js';
import type { Member } from '../track/member.js';

/** What became of one signal. */
export type SignalOutcome = 'sent' | 'gone' | 'refused';

/** Thrown for a pid that must never be signalled; a bug in the caller, not a runtime condition. */
export class UnsafePidError extends Error {
  override name = 'UnsafePidError';
}

let pidfds: Libc | null | undefined;

/** Whether signals go through pidfds on this host (koffi loaded and pidfd_open works). */
export function signalsUsePidfd(): boolean {
  if (pidfds === undefined) {
    pidfds = libc();
    try {
      if (pidfds) pidfds.close(pidfds.pidfdOpen(process.pid));
    } catch {
      pidfds = null;
    }
  }
  return pidfds !== null;
}

/**
 * Sends `signal` to one member after re-reading its identity.
 * @returns 'sent'; 'gone' when the process exited or its pid now belongs to another process;
 *          'refused' when the kernel said EPERM (another user's process)
 * @throws UnsafePidError for a pid that is not an integer > 1
 */
export function signalMember(member: Pick<Member, 'pid' | 'starttime'>, signal: NodeJS.Signals): SignalOutcome {
  if (!Number.isInteger(member.pid) || member.pid <= 1) throw new UnsafePidError(`refusing to signal pid ${member.pid}`);
  return signalsUsePidfd() ? signalThroughPidfd(pidfds!, member, signal) : signalByPid(member, signal);
}

/**
 * Sends `signal` to the whole process group `pgid`: kill(2) with -pgid. Only for a group whose every
 * live process the caller has just checked to be the run's (terminate/run-groups.ts).
 * @returns 'sent'; 'gone' when the group is empty; 'refused' on EPERM
 * @throws UnsafePidError for a pgid that is not an integer > 1, or our own group
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals): SignalOutcome {
  if (!Number.isInteger(pgid) || pgid <= 1) throw new UnsafePidError(`refusing to signal process group ${pgid}`);
  if (readStat(process.pid)?.pgid === pgid) throw new UnsafePidError(`refusing to signal our own process group ${pgid}`);
  try {
    process.kill(-pgid, signal);
    return 'sent';
  } catch (error) {
    return outcomeOf(error);
  }
}

/**
 * Whether any process is in group `pgid`: kill(2) with -pgid and signal 0, which delivers nothing.
 * @throws UnsafePidError for a pgid that is not an integer > 1
 */
export function groupInUse(pgid: number): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) throw new UnsafePidError(`refusing to probe process group ${pgid}`);
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalThroughPidfd(calls: Libc, member: Pick<Member, 'pid' | 'starttime'>, signal: NodeJS.Signals): SignalOutcome {
  let pidfd: number;
  try {
    pidfd = calls.pidfdOpen(member.pid);
  } catch (error) {
    return afterPidfdFailure(error, member, signal);
  }
  try {
    if (readStat(member.pid)?.starttime !== member.starttime) return 'gone';
    calls.pidfdSendSignal(pidfd, signal);
    return 'sent';
  } catch (error) {
    return afterPidfdFailure(error, member, signal);
  } finally {
    calls.close(pidfd);
  }
}

/**
 * After pidfd_open or pidfd_send_signal failed: ESRCH means the process is gone. Anything else, the
 * signal still goes, by kill(2) after the starttime re-check; and the failure is reported, unless
 * kill(2) is refused too (EPERM both ways: another user's process, which is no failure of pidfds).
 */
function afterPidfdFailure(error: unknown, member: Pick<Member, 'pid' | 'starttime'>, signal: NodeJS.Signals): SignalOutcome {
  const code = codeOf(error);
  if (code === 'ESRCH') return 'gone';
  const outcome = signalByPid(member, signal);
  if (!(code === 'EPERM' && outcome === 'refused')) reportPidfdFailure(error);
  return outcome;
}

let pidfdFailureReported = false;

/** Says once per process that a pidfd call failed unexpectedly and signals fall back to kill(2). */
function reportPidfdFailure(error: unknown): void {
  if (pidfdFailureReported) return;
  pidfdFailureReported = true;
  const what = error instanceof Error ? error.message : String(error);
  process.emitWarning(`${what}: this signal, and any other whose pidfd call fails, goes by kill(2) after a starttime re-check`);
}

function signalByPid(member: Pick<Member, 'pid' | 'starttime'>, signal: NodeJS.Signals): SignalOutcome {
  const stat = readStat(member.pid);
  if (!stat || stat.starttime !== member.starttime) return 'gone';
  try {
    process.kill(member.pid, signal);
    return 'sent';
  } catch (error) {
    return outcomeOf(error);
  }
}

function codeOf(error: unknown): string | undefined {
  return error instanceof SyscallError ? error.code : (error as NodeJS.ErrnoException).code;
}

function outcomeOf(error: unknown): SignalOutcome {
  const code = codeOf(error);
  if (code === 'EPERM') return 'refused';
  if (code === 'ESRCH') return 'gone';
  throw error;
}
