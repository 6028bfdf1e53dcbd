/**
 * The leader of an adopted run (`scidex-watchdog adopt`): a process that someone else started, so
 * it is not our child and its end cannot be waited for. Two things replace the spawn's child handle:
 *
 *   - its identity: a pidfd opened on the pid, then its starttime (proc(5) stat field 22) re-read.
 *     The process named by the pid when the pidfd was opened is the one the pidfd keeps naming; if
 *     /proc still shows the starttime we were asked for after the open, the pidfd names that very
 *     process and no successor that reused the number (the same argument as terminate/guard.ts).
 *   - its end: the pidfd turns readable when the process has exited (Linux 5.3). Its parent, not
 *     us, reaps it; once it has, Linux 6.15 keeps the wait(2) status for any holder of a pidfd
 *     (PIDFD_GET_INFO with PIDFD_INFO_EXIT), so how it ended is known after all. Before that kernel,
 *     or while the parent leaves it a zombie, the exit status is unknown to us and recorded so.
 *
 * Without FFI (SCIDEX_NO_FFI, or koffi missing) the pid and starttime alone identify it, re-read
 * at every check, and its exit status is never known.
 */
import { constants } from 'node:os';
import { isDead, readStat, type ProcStat } from '../proc/stat.js';
import { libc, type Libc } from '../sys/libc.js';
import type { LeaderExit } from './exit-status.js';

/** How often the leader's end is checked, milliseconds (one poll(2) of its pidfd, or one stat read). */
const EXIT_CHECK_MS = 50;
/** How long an exited leader's parent gets to reap it, so that its exit status can be read, milliseconds. */
const REAP_WAIT_MS = 1000;

/** Why a process cannot be taken as the leader (words for a person). */
export class AdoptRefusal extends Error {
  override name = 'AdoptRefusal';
}

export interface AdoptedLeader {
  pid: number;
  starttime: number;
  /** Its stat when it was taken. */
  stat: ProcStat;
  /** Whether a pidfd holds its identity (else pid and starttime alone). */
  pidfd: boolean;
  /** Resolves once it has exited: how, when its parent reaped it in time on a kernel that tells; else `unknown`. */
  exited: Promise<LeaderExit>;
  /** Stops watching and closes the pidfd. */
  close(): void;
}

/**
 * Takes the process (pid, starttime) as the leader of an adopted run.
 * @throws AdoptRefusal when no live process has that pid and starttime
 */
export function openAdoptedLeader(pid: number, starttime: number): AdoptedLeader {
  if (!Number.isInteger(pid) || pid <= 1) throw new AdoptRefusal(`pid ${pid} cannot be adopted: not a process id greater than 1`);
  const calls = libc();
  let pidfd: number | undefined;
  if (calls) {
    try {
      pidfd = calls.pidfdOpen(pid);
    } catch (error) {
      if ((error as { code?: string }).code === 'ESRCH') throw new AdoptRefusal(`no process ${pid}`);
      // EMFILE, a sandbox's ENOSYS: the starttime re-checks still hold it by identity.
    }
  }
  // Read after the open: a pidfd opened on a successor would show the successor's starttime here.
  const stat = readStat(pid);
  const refuse = (why: string): never => {
    if (pidfd !== undefined) calls!.close(pidfd);
    throw new AdoptRefusal(why);
  };
  if (!stat) refuse(`no process ${pid}`);
  if (stat!.starttime !== starttime) refuse(`pid ${pid} is another process now (starttime ${stat!.starttime}, not ${starttime}): its number was reused`);
  if (isDead(stat!)) refuse(`process ${pid} has already exited`);
  return watch(pid, stat!, calls && pidfd !== undefined ? { calls, fd: pidfd } : undefined);
}

function watch(pid: number, stat: ProcStat, handle: { calls: Libc; fd: number } | undefined): AdoptedLeader {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const close = (): void => {
    clearTimeout(timer);
    if (closed) return;
    closed = true;
    if (handle) handle.calls.close(handle.fd);
  };
  const ended = (): boolean => {
    if (handle) return handle.calls.readable(handle.fd);
    const now = readStat(pid);
    return !now || now.starttime !== stat.starttime || isDead(now);
  };
  const exited = new Promise<LeaderExit>((resolve) => {
    let endedAtMs: number | undefined;
    const check = (): void => {
      if (closed) return;
      if (endedAtMs === undefined && ended()) endedAtMs = performance.now();
      if (endedAtMs !== undefined) {
        const status = handle ? handle.calls.pidfdExitStatus(handle.fd) : undefined;
        if (status !== undefined) return resolve(decodeWaitStatus(status));
        if (!handle || performance.now() - endedAtMs >= REAP_WAIT_MS) return resolve({ code: null, signal: null, unknown: true });
      }
      timer = setTimeout(check, EXIT_CHECK_MS);
    };
    check();
  });
  return { pid, starttime: stat.starttime, stat, pidfd: handle !== undefined, exited, close };
}

/** A wait(2) status as Node's 'exit' event gives it: the code, or the signal's name. */
export function decodeWaitStatus(status: number): LeaderExit {
  const signal = status & 0x7f;
  if (signal === 0) return { code: (status >> 8) & 0xff, signal: null };
  return { code: null, signal: signalName(signal) };
}

function signalName(number: number): NodeJS.Signals | null {
  for (const [name, value] of Object.entries(constants.signals)) if (value === number) return name as NodeJS.Signals;
  return null;
}
