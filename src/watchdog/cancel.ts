/**
 * Cancelling a run of this host: through its wrapper, which then runs its normal termination
 * sequence (first signal to the tree, grace period, SIGKILL) and records the run `cancelled` with
 * exit status 128+signal. We never touch the tree ourselves: the wrapper knows its members.
 *
 * The wrapper is named by the run's marker in our own state directory. A marker is only a claim
 * (docs/design.md §8), so before any signal the process it names must prove to be that run's wrapper:
 *   - the marker and its directories could only have been written by the run's user or root
 *     (record/marker-trust.ts), and the process runs as the marker's owner (real and effective uid);
 *   - the process holds the run's journal (`<state>/journal/<run-id>.jsonl`, a regular file of the
 *     same owner) open for writing, as every wrapper does from before its marker exists to its end.
 *     An unrelated process, even one that catches SIGTERM, holds no such file;
 *   - it catches the signal (a wrapper still starting is waited for).
 * The signal then goes through terminate/guard.ts, which refuses pids <= 1 and re-reads the
 * starttime after opening a pidfd, so a wrapper that exited since the checks and whose pid was
 * reused is never hit. A run of another PID namespace or another boot is never signalled from here.
 */
import { lstatSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { holdsOpenForWriting, processUids, type FileIdentity } from '../proc/identity.js';
import { catchesSignal } from '../proc/signals.js';
import { isDead, readStat } from '../proc/stat.js';
import { bootId, pidNamespace } from '../proc/system.js';
import { removeCancelRequest, writeCancelRequest, type CancelRequest, type RequestKind } from '../record/cancel-request.js';
import type { CancelOutcome } from '../record/cancel-sql.js';
import { journalFinished } from '../record/journal-end.js';
import { checkMarkerTrust } from '../record/marker-trust.js';
import { readMarker, type RunMarker } from '../record/markers.js';
import { signalMember } from '../terminate/guard.js';

/**
 * How long a wrapper still starting may take to install its signal handlers, milliseconds: what the
 * daemon's callers wait (the pressure guard, which must move on to the next run while the host is
 * short of memory, and the cancel deliverer, which holds its requests' locks meanwhile).
 */
export const HANDLER_WAIT_MS = 3000;
/**
 * The same for a person's `cancel` or `release`, who would rather wait than be refused: the wrapper
 * has passed the identity checks (provenWrapper) by then, and on a loaded host its start from the
 * marker to its handlers took more than 3 s.
 */
export const CLI_HANDLER_WAIT_MS = 30_000;
const HANDLER_WAIT_STEP_MS = 20;

/** What became of one cancel, and why, in words for a person. */
export interface CancelResult {
  outcome: CancelOutcome;
  /** `SIGTERM sent to its wrapper (pid 4242)`, `its wrapper is gone`, ... */
  why: string;
}

/**
 * Cancels the run of `marker` (read from `stateDir`): waits (up to `handlerWaitMs`) for the wrapper to catch the
 * signal, writes its request file, then signals the wrapper after the identity check. Never throws
 * for a run that is gone or not ours to signal.
 * @param request signal: SIGINT, SIGTERM or SIGHUP (the caller has checked); SIGUSR1 for a release
 * @param kind `release`: the request asks an adopting supervisor to end its supervision (watchdog/release.ts)
 * @param handlerWaitMs how long a wrapper still starting gets to catch the signal, milliseconds
 *        (HANDLER_WAIT_MS for the daemon, CLI_HANDLER_WAIT_MS for a person's command)
 * @returns delivered (the wrapper has the signal), ended (no wrapper with the marker's pid and
 *          starttime: it finished, or died and awaits the reaper), refused (EPERM, another PID
 *          namespace, a marker that names no valid pid, a marker or process that fails the identity
 *          checks of the module comment, or a request file we cannot write),
 *          no_such_run (the marker is another host's)
 */
export async function cancelMarkedRun(stateDir: string, marker: RunMarker, request: CancelRequest, kind: RequestKind = 'cancel', handlerWaitMs = HANDLER_WAIT_MS): Promise<CancelResult> {
  if (marker.host !== hostname()) return { outcome: 'no_such_run', why: `its marker names another host (${marker.host})` };
  if (marker.boot_id !== bootId()) return { outcome: 'ended', why: 'its host rebooted since it started' };
  if (marker.pid_ns !== null && marker.pid_ns !== undefined && marker.pid_ns !== pidNamespace()) {
    // Its pids are not ours: the number could name any process of our namespace.
    return { outcome: 'refused', why: `it runs in another PID namespace (${marker.pid_ns})` };
  }
  const wrapper = { pid: marker.wrapper_pid, starttime: marker.wrapper_starttime };
  if (!Number.isInteger(wrapper.pid) || wrapper.pid <= 1) return { outcome: 'refused', why: `its marker names no valid wrapper pid (${wrapper.pid})` };
  const stat = readStat(wrapper.pid);
  if (!stat || stat.starttime !== wrapper.starttime || isDead(stat)) {
    return { outcome: 'ended', why: 'its wrapper is gone (scidex-watchdog reap finishes what is left of it)' };
  }
  const wrapperUid = provenWrapper(stateDir, marker);
  if (typeof wrapperUid !== 'number') return wrapperUid;
  // A wrapper whose signal handlers are not installed yet (it writes its marker first) would die
  // of the signal instead of cancelling: wait the moment it takes. One that never catches it is
  // no scidex-run wrapper of ours, whatever the marker says.
  const deadline = performance.now() + handlerWaitMs;
  for (;;) {
    const caught = catchesSignal(wrapper.pid, request.signal);
    if (caught === undefined) return { outcome: 'ended', why: 'its wrapper exited just now' };
    if (caught) break;
    if (performance.now() >= deadline) {
      return { outcome: 'refused', why: `its wrapper (pid ${wrapper.pid}) does not handle ${request.signal} (still starting, or not a scidex-run)` };
    }
    await sleep(HANDLER_WAIT_STEP_MS);
  }
  try {
    writeCancelRequest(stateDir, marker.id, request, wrapperUid, kind);
  } catch (error) {
    return { outcome: 'refused', why: `cannot write the ${kind} request beside its marker (${(error as NodeJS.ErrnoException).code ?? error})` };
  }
  const sent = signalMember(wrapper, request.signal);
  if (sent === 'sent') return { outcome: 'delivered', why: `${request.signal} sent to its wrapper (pid ${wrapper.pid})` };
  removeCancelRequest(stateDir, marker.id, kind);
  if (sent === 'gone') return { outcome: 'ended', why: 'its wrapper exited just now' };
  return { outcome: 'refused', why: `not permitted to signal its wrapper (pid ${wrapper.pid}, another user's run)` };
}

/**
 * Checks that the live process the marker names is the run's wrapper (module comment).
 * @returns the uid it runs as when it is; else the result to report (refused, or ended when the run finished meanwhile)
 */
export function provenWrapper(stateDir: string, marker: RunMarker): number | CancelResult {
  const pid = marker.wrapper_pid;
  const trust = checkMarkerTrust(stateDir, marker.id);
  if (!trust.trusted) return { outcome: 'refused', why: `its marker is not to be trusted: ${trust.why}` };
  const uids = processUids(pid);
  if (!uids) return { outcome: 'ended', why: 'its wrapper exited just now' };
  if (uids.real !== trust.uid || uids.effective !== trust.uid) {
    return { outcome: 'refused', why: `pid ${pid} runs as uid ${uids.effective}, but the run's marker belongs to uid ${trust.uid}: not its wrapper` };
  }
  const journal = journalIdentity(stateDir, marker.id, trust.uid);
  if (typeof journal === 'string') return { outcome: 'refused', why: journal };
  const holds = holdsOpenForWriting(pid, journal);
  if (holds === true) return trust.uid;
  // A wrapper closes its journal once its final run version is in it, then ships and removes its marker.
  if (readMarker(stateDir, marker.id) === undefined || journalFinished(journal.path)) return { outcome: 'ended', why: 'its wrapper finished just now' };
  if (holds === undefined) return { outcome: 'refused', why: `cannot check that pid ${pid} is its wrapper (its open files cannot be read from here)` };
  return { outcome: 'refused', why: `pid ${pid} does not hold the run's journal open: not its wrapper` };
}

/** The run's journal by identity, when it is a regular file of `uid`; else why not. */
function journalIdentity(stateDir: string, runId: string, uid: number): (FileIdentity & { path: string }) | string {
  const path = join(stateDir, 'journal', `${runId}.jsonl`);
  try {
    const stats = lstatSync(path);
    if (!stats.isFile()) return `its journal '${path}' is not a regular file`;
    if (stats.uid !== uid) return `its journal belongs to uid ${stats.uid}, its marker to uid ${uid}`;
    return { dev: stats.dev, ino: stats.ino, path };
  } catch (error) {
    return `its journal cannot be checked (${(error as NodeJS.ErrnoException).code ?? error})`;
  }
}
