/**
 * Cancelling a run of this host: through its wrapper, which then runs its normal termination
 * sequence (first signal to the tree, grace period, SIGKILL) and records the run `cancelled` with
 * exit status 128+signal. We never touch the tree ourselves: the wrapper knows its members.
 *
 * The wrapper is named by the run's marker in our own state directory. A marker is only a claim
 * (docs/design.md §8): the signal goes through terminate/guard.ts, which refuses pids <= 1 and
 * re-reads the starttime (after opening a pidfd, where the kernel has them), so a wrapper that
 * exited and whose pid was reused is never hit. A run of another PID namespace or another boot is
 * never signalled from here.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { catchesSignal } from '../proc/signals.js';
import { isDead, readStat } from '../proc/stat.js';
import { bootId, pidNamespace } from '../proc/system.js';
import { removeCancelRequest, writeCancelRequest, type CancelRequest } from '../record/cancel-request.js';
import type { CancelOutcome } from '../record/cancel-sql.js';
import type { RunMarker } from '../record/markers.js';
import { signalMember } from '../terminate/guard.js';

/** How long a wrapper still starting may take to install its signal handlers, milliseconds. */
const HANDLER_WAIT_MS = 3000;
const HANDLER_WAIT_STEP_MS = 20;

/** What became of one cancel, and why, in words for a person. */
export interface CancelResult {
  outcome: CancelOutcome;
  /** `SIGTERM sent to its wrapper (pid 4242)`, `its wrapper is gone`, ... */
  why: string;
}

/**
 * Cancels the run of `marker` (read from `stateDir`): waits (up to 3 s) for the wrapper to catch the
 * signal, writes its request file, then signals the wrapper after the identity check. Never throws
 * for a run that is gone or not ours to signal.
 * @param request signal: SIGINT, SIGTERM or SIGHUP (the caller has checked)
 * @returns delivered (the wrapper has the signal), ended (no wrapper with the marker's pid and
 *          starttime: it finished, or died and awaits the reaper), refused (EPERM, another PID
 *          namespace, a marker that names no valid pid, a process that does not catch the signal,
 *          or a request file we cannot write),
 *          no_such_run (the marker is another host's)
 */
export async function cancelMarkedRun(stateDir: string, marker: RunMarker, request: CancelRequest): Promise<CancelResult> {
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
  // A wrapper whose signal handlers are not installed yet (it writes its marker first) would die
  // of the signal instead of cancelling: wait the moment it takes. One that never catches it is
  // no scidex-run wrapper of ours, whatever the marker says.
  const deadline = performance.now() + HANDLER_WAIT_MS;
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
    writeCancelRequest(stateDir, marker.id, request);
  } catch (error) {
    return { outcome: 'refused', why: `cannot write the cancel request beside its marker (${(error as NodeJS.ErrnoException).code ?? error})` };
  }
  const sent = signalMember(wrapper, request.signal);
  if (sent === 'sent') return { outcome: 'delivered', why: `${request.signal} sent to its wrapper (pid ${wrapper.pid})` };
  removeCancelRequest(stateDir, marker.id);
  if (sent === 'gone') return { outcome: 'ended', why: 'its wrapper exited just now' };
  return { outcome: 'refused', why: `not permitted to signal its wrapper (pid ${wrapper.pid}, another user's run)` };
}
