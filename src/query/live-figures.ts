/**
 * The live figures of a running run of this host (run-view-body.ts LiveFigures): its tree measured
 * now, found as the reaper finds a lost run's tree (track/lost-run.ts), not as its last heartbeat
 * said. Only a marker that may be acted on leads to a measurement (docs/design.md §8): a forged one
 * must not make another user's processes show as the run's.
 */
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { pathsWrittenBy, processUids } from '../proc/identity.js';
import { wrapperAlive } from '../proc/liveness.js';
import { pidNamespace } from '../proc/system.js';
import { readTrustedMarker } from '../record/marker-trust.js';
import type { RunRecord } from '../record/types.js';
import { foreignOwner, lostRunTracker } from '../track/lost-run.js';
import { isRunCgroupPath } from '../track/run-cgroup.js';
import type { LiveFigures } from './run-view-body.js';

/** How many processes LiveFigures.processes lists at most (the biggest RSS first). */
export const LIVE_PROCESSES_SHOWN = 20;

/**
 * Measures `run` now, when it is running on this host (its host is os.hostname()) and its marker,
 * in `stateDir` or else in the state directory its live wrapper writes its journal in (a user's own,
 * read by a daemon of /var/lib/scidex-run), is one to believe: the marker is the record's run (same wrapper pid, starttime and
 * boot), marker-trust.ts trusts it for a user (its content and its trust read from one open file),
 * its wrapper is alive (proc/liveness.ts) in our PID namespace and runs as that user (real and
 * effective uid, /proc/PID/status). The tree is the run's cgroup, or the processes carrying its
 * cookie started after the wrapper that run as that user (root included: anyone may carry a run's
 * cookie), and their children, of that user alone when it is neither us nor root. An adopted run
 * outside a run cgroup has no cookie: its tree cannot be told from here. Elapsed time and time left
 * are the marker's started_at and timeout_ms (the wrapper's, as trusted as the marker), never the
 * record's, which a database row could forge; started_at is the wrapper host's clock, which is
 * this host's.
 * @param atMs the time the figures are given for, epoch milliseconds; the scan's own by default
 * @returns the figures; null when the run is not running here, nothing proves which tree is its, or
 *          it cannot be measured. Never throws.
 */
export function liveFigures(run: RunRecord, stateDir: string, atMs?: number): LiveFigures | null {
  try {
    return measure(run, stateDir, atMs);
  } catch {
    // The figures are an extra of the view: a marker or /proc that defeats the checks must not
    // make the run's records unreadable.
    return null;
  }
}

/** More descriptors than a wrapper ever holds (a handful): a process with more is not searched. */
const MAX_WRAPPER_DESCRIPTORS = 256;

/**
 * The state directory the run's wrapper, alive in our PID namespace as its record names it (pid and
 * starttime), holds the run's journal open for writing in: the kernel's word (/proc/PID/fd), not
 * the record's journal_path. Undefined when there is none, or when the process holds more
 * descriptors than a wrapper would (a row naming a process made to hold thousands must not make
 * each page view walk them).
 */
function wrapperStateDir(run: RunRecord): string | undefined {
  // wrapperAlive counts a wrapper of another PID namespace alive without looking: its pids are not ours.
  const ours = run.pid_ns === null || run.pid_ns === undefined || run.pid_ns === pidNamespace();
  if (!ours || run.wrapper_pid <= 1 || !wrapperAlive(run)) return undefined;
  const journal = pathsWrittenBy(run.wrapper_pid, `/journal/${run.id}.jsonl`, MAX_WRAPPER_DESCRIPTORS)[0];
  return journal === undefined ? undefined : dirname(dirname(journal));
}

/** The run's marker, read from `stateDir`, else from the state directory its live wrapper writes in (wrapperStateDir). */
function findMarker(run: RunRecord, stateDir: string): ReturnType<typeof readTrustedMarker> | undefined {
  const here = readTrustedMarker(stateDir, run.id);
  if (here.marker !== undefined) return here;
  const own = wrapperStateDir(run);
  if (own === undefined || resolve(own) === resolve(stateDir)) return undefined;
  const there = readTrustedMarker(own, run.id);
  return there.marker === undefined ? undefined : there;
}

function measure(run: RunRecord, stateDir: string, atMs?: number): LiveFigures | null {
  const here = hostname();
  if (run.status !== 'running' || run.ended_at !== null || run.host !== here) return null;
  // The first marker there is, here or in the state directory its live wrapper writes its journal
  // in; only it is checked.
  const found = findMarker(run, stateDir);
  if (!found) return null;
  const { marker, trust } = found;
  if (!marker || !trust.trusted || marker.host !== here) return null;
  if (marker.wrapper_pid !== run.wrapper_pid || marker.wrapper_starttime !== run.wrapper_starttime || marker.boot_id !== run.boot_id) return null;
  // wrapperAlive counts a wrapper of another PID namespace alive; its pids mean nothing here.
  if (marker.pid_ns !== null && marker.pid_ns !== undefined && marker.pid_ns !== pidNamespace()) return null;
  if (!wrapperAlive(marker)) return null;
  const uids = processUids(marker.wrapper_pid);
  if (!uids || uids.real !== trust.uid || uids.effective !== trust.uid) return null;
  if (marker.adopted === true && !(marker.cgroup_path && isRunCgroupPath(marker.cgroup_path, run.id))) return null;
  // Only scan(): release() would remove the run's cgroup.
  const snapshot = lostRunTracker(marker, foreignOwner(trust.uid), trust.uid).scan();
  const at = atMs ?? snapshot.atMs;
  const startedMs = Date.parse(marker.started_at);
  const processes = [...snapshot.alive]
    .sort((a, b) => b.rssBytes - a.rssBytes || a.pid - b.pid)
    .slice(0, LIVE_PROCESSES_SHOWN)
    .map((member) => ({ pid: member.pid, ppid: member.ppid, comm: member.comm, argv: member.argv, rss_bytes: member.rssBytes, found_by: member.foundBy }));
  return {
    at: new Date(at).toISOString(),
    elapsed_ms: Math.max(0, at - startedMs),
    time_left_ms: marker.timeout_ms > 0 ? Math.max(0, startedMs + marker.timeout_ms - at) : null,
    rss_bytes: snapshot.rssBytes,
    process_count: snapshot.alive.length,
    processes,
  };
}
