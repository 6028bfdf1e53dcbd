/**
 * Releasing an adopted run (`scidex-watchdog release RUN`), the original watchdog's unregister: its
 * supervisor stops supervising, and nothing of the tree is signalled, then or ever (its processes
 * go back to the cgroup they came from; the reaper of a supervisor that dies after the release
 * signals nothing either, watchdog/reap.ts).
 *
 * It goes the way of a cancel on this host (watchdog/cancel.ts), with the same proof that the
 * process signalled is the run's supervisor: a trusted marker (only the run's user or root could have
 * written it), a process of the marker's owner holding the run's journal open, catching the signal.
 * The request file `<run-id>.release` beside the marker says who asked; SIGUSR1 tells the
 * supervisor to read it. The supervisor acts only on a file of its own user's or root's, so only
 * the run's owner, or root, can release it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { requesterName, type ReleaseRequest } from '../record/cancel-request.js';
import { readMarker } from '../record/markers.js';
import { cancelMarkedRun, CLI_HANDLER_WAIT_MS, type CancelResult } from './cancel.js';

/** How long `release` waits for the supervisor to record the release and finish, milliseconds. */
const FINISH_WAIT_MS = 15_000;
const FINISH_STEP_MS = 50;

/** What became of a release. */
export interface ReleaseResult {
  outcome: 'released' | 'not_adopted' | 'no_such_run' | 'ended' | 'refused' | 'pending';
  why: string;
}

/**
 * Releases the adopted run `runId` of `stateDir`, then waits (up to 15 s) for its supervisor to
 * record it and remove the marker. Never throws for a run that is gone or not ours.
 */
export async function releaseRun(stateDir: string, runId: string, reason: string | null): Promise<ReleaseResult> {
  const marker = readMarker(stateDir, runId);
  if (!marker) return { outcome: 'no_such_run', why: `no running run ${runId} in ${stateDir} (ended already, or another state directory's)` };
  if (marker.adopted !== true) return { outcome: 'not_adopted', why: 'it was started by scidex-run, not adopted: only an adoption can be released (scidex-watchdog cancel stops a run)' };
  const request: ReleaseRequest = { signal: 'SIGUSR1', reason, requested_by: requesterName(), requested_at: new Date().toISOString(), request_id: null };
  const result: CancelResult = await cancelMarkedRun(stateDir, marker, request, 'release', CLI_HANDLER_WAIT_MS);
  if (result.outcome === 'no_such_run') return { outcome: 'no_such_run', why: result.why };
  if (result.outcome !== 'delivered') return { outcome: result.outcome === 'ended' ? 'ended' : 'refused', why: result.why.replace('wrapper', 'supervisor') };
  const deadline = performance.now() + FINISH_WAIT_MS;
  while (readMarker(stateDir, runId) !== undefined) {
    if (performance.now() >= deadline) return { outcome: 'pending', why: `its supervisor (pid ${marker.wrapper_pid}) has the request but has not finished within ${FINISH_WAIT_MS / 1000} s` };
    await sleep(FINISH_STEP_MS);
  }
  return { outcome: 'released', why: `its supervisor (pid ${marker.wrapper_pid}) stopped supervising the process and its tree; nothing was signalled` };
}
