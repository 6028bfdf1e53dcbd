/**
 * Taking a running process for an adopted run (`scidex-watchdog adopt PID`): which process may be
 * adopted, by whom, and how it is held. This runs in the adopting supervisor itself, the detached
 * process that then supervises the run (docs/design.md, "Adopting a process"), with the caller's
 * credentials and nothing more: what the kernel lets the caller do to the process is all the
 * supervisor can do to it.
 *
 * The process is held by a pidfd before anything is read of it (adopted-leader.ts), and each check
 * is about the process that pidfd names: its starttime is read again once they are done. Refused
 * (one line, exit 125 from `adopt`):
 *   - a pid that is not an integer > 1, our own, or no process; a starttime asked for (--starttime)
 *     that is not the process's: its number was reused since the caller learnt it;
 *   - a process of another user, unless we are root: real and effective uid must be ours;
 *   - a process of another PID namespace than ours (a container's, seen from its host): its pids
 *     in our records would name other processes to everyone who reads them;
 *   - a process inside a run already: one that carries a SCIDEX_RUN_ID in its environment (started
 *     under scidex-run), one in a run's cgroup, or one adopted already from this state directory
 *     (a lock per process identity, held by its supervisor for as long as it lives).
 */
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isRunId } from '../config/run-id.js';
import { UsageError } from '../config/errors.js';
import { cgroupOf } from '../proc/cgroup.js';
import { envValue } from '../proc/environ.js';
import { processUids } from '../proc/identity.js';
import { processAlive } from '../proc/liveness.js';
import { readStat } from '../proc/stat.js';
import { processAgeMs } from '../proc/system.js';
import { releaseLock, tryLock } from '../record/lock-file.js';
import { stateSubdir } from '../record/state-dir.js';
import { AdoptRefusal, openAdoptedLeader, type AdoptedLeader } from './adopted-leader.js';

/** What `scidex-watchdog adopt` asks of the supervisor. */
export interface AdoptTarget {
  pid: number;
  /** The starttime the caller knows the process by (--starttime), if it gave one. */
  starttime?: number;
  /** --since-start: the timeout counts from the process's own start, not from the adoption. */
  sinceStart: boolean;
  /**
   * Told once the supervision is in place (marker written, tree tracked, run_started journaled).
   * @returns whether the requester heard it: false when it has gone (it gave up waiting and told its
   *          caller the process is not adopted), and then the supervision ends at once, nothing signalled
   */
  onStarted(facts: { runId: string; pid: number; backend: string }): boolean;
}

/** A process taken for adoption: held by its pidfd, and locked against a second adoption. */
export interface TakenProcess {
  leader: AdoptedLeader;
  /** Its age when taken, milliseconds. */
  ageMs: number;
  /** Gives up the lock against a second adoption (the supervision is over). */
  unlock(): void;
}

/**
 * Takes `target` for adoption after the checks of the module comment.
 * @throws UsageError naming the refusal
 */
export function takeProcess(target: AdoptTarget, stateDir: string): TakenProcess {
  const { pid } = target;
  if (!Number.isInteger(pid) || pid <= 1) throw new UsageError(`invalid pid '${pid}': expected a process id greater than 1`);
  if (pid === process.pid) throw new UsageError(`pid ${pid} is the adopting supervisor itself`);
  const first = readStat(pid);
  if (!first) throw new UsageError(`no process ${pid}`);
  const starttime = target.starttime ?? first.starttime;
  let leader: AdoptedLeader;
  try {
    leader = openAdoptedLeader(pid, starttime);
  } catch (error) {
    if (error instanceof AdoptRefusal) throw new UsageError(error.message);
    throw error;
  }
  let lock: string | undefined;
  try {
    checkOwner(pid);
    checkNamespace(pid);
    checkNotInRun(pid);
    lock = lockIdentity(stateDir, pid, starttime);
    if (!processAlive(pid, starttime)) throw new UsageError(`process ${pid} exited while it was being adopted`);
  } catch (error) {
    leader.close();
    if (lock) releaseLock(lock);
    throw error;
  }
  return { leader, ageMs: processAgeMs(starttime), unlock: () => releaseLock(lock!) };
}

function checkOwner(pid: number): void {
  const uid = process.getuid?.() ?? -1;
  const uids = processUids(pid);
  if (!uids) throw new UsageError(`no process ${pid}`);
  if (uid === 0 || (uids.real === uid && uids.effective === uid)) return;
  throw new UsageError(`process ${pid} belongs to uid ${uids.effective === uid ? uids.real : uids.effective}, not to you (uid ${uid}): only its owner or root may adopt it`);
}

function checkNamespace(pid: number): void {
  let ours: string;
  let theirs: string;
  try {
    ours = readlinkSync('/proc/self/ns/pid');
    theirs = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch (error) {
    throw new UsageError(`cannot tell the PID namespace of process ${pid} (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  if (ours !== theirs) throw new UsageError(`process ${pid} is in another PID namespace (${theirs}, ours ${ours}): adopt it from inside that namespace`);
}

function checkNotInRun(pid: number): void {
  const runId = envValue(pid, 'SCIDEX_RUN_ID');
  if (runId !== undefined) throw new UsageError(`process ${pid} is inside run ${runId} already (SCIDEX_RUN_ID in its environment): scidex-run supervises it`);
  const cgroup = cgroupOf(pid) ?? '';
  const parts = cgroup.split('/');
  const at = parts.lastIndexOf('scidex-run');
  if (at >= 0 && isRunId(parts[at + 1] ?? '')) throw new UsageError(`process ${pid} is inside run ${parts[at + 1]} already (in its cgroup ${cgroup})`);
}

/**
 * Locks the process's identity in the state directory's running/ for this supervisor's life: a
 * second `adopt` of the same process from the same state directory is refused.
 * @returns the lock's path
 */
function lockIdentity(stateDir: string, pid: number, starttime: number): string {
  const dir = stateSubdir(stateDir, 'running', true)!;
  const path = join(dir, `adopted-${pid}-${starttime}.lock`);
  const attempt = tryLock(path);
  if (attempt === 'taken') return path;
  if (attempt === 'held') throw new UsageError(`process ${pid} is adopted already (its supervisor holds ${path})`);
  throw new UsageError(`cannot lock ${path} against a second adoption`);
}
