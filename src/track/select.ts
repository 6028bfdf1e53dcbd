/**
 * Choosing the tracking backend: the strongest one this host supports, or the one asked for.
 * Each probe does what the backend needs for real (the cgroup is created and entered and left;
 * prctl is called), so a backend that is reported available works.
 */
import { libc, libcError, SyscallError } from '../sys/libc.js';
import { CgroupUnavailableError, RunCgroup } from './run-cgroup.js';
import { CgroupTracker } from './cgroup.js';
import { PgroupTracker } from './pgroup.js';
import { SubreaperTracker } from './subreaper.js';
import { TRACKING_BACKENDS, type TrackingBackend } from '../config/tracking.js';
import type { Tracker } from './tracker.js';

/** What `--tracking` accepts. */
export type TrackingChoice = TrackingBackend | 'auto';

/** One line of `--explain-tracking`. */
export interface BackendReport {
  backend: TrackingBackend;
  available: boolean;
  /** Why it is or is not available, for a person. */
  why: string;
}

/** The backend a run got, with what it holds. */
export interface TrackingSetup {
  backend: TrackingBackend;
  /** The run's cgroup, for the `cgroup` backend. */
  cgroup?: RunCgroup;
  /** The reports of the backends probed (the stronger ones that failed, then the chosen one). */
  reports: BackendReport[];
}

/** Thrown when the backend asked for cannot run here. */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

/**
 * Probes backends strongest first and sets up the first that works (or only `choice`).
 * For `subreaper`, the wrapper becomes the child subreaper here: before the spawn, as it must be.
 * @throws BackendUnavailableError when `choice` names a backend that cannot run here
 */
export function setUpTracking(choice: TrackingChoice, runId: string): TrackingSetup {
  const reports: BackendReport[] = [];
  for (const backend of choice === 'auto' ? TRACKING_BACKENDS : [choice]) {
    const { report, cgroup } = probe(backend, runId);
    reports.push(report);
    if (report.available) return { backend, cgroup, reports };
  }
  const last = reports.at(-1)!;
  throw new BackendUnavailableError(`tracking backend '${last.backend}' is not available here: ${last.why}`);
}

/**
 * Reports on every backend without keeping anything: the probe cgroup is removed again.
 * Leaves the calling process a child subreaper when that backend is available (meant for a
 * process that exits right after, like `--explain-tracking`).
 */
export function explainTracking(probeId: string): BackendReport[] {
  return TRACKING_BACKENDS.map((backend) => {
    const { report, cgroup } = probe(backend, probeId);
    cgroup?.remove();
    return report;
  });
}

function probe(backend: TrackingBackend, runId: string): { report: BackendReport; cgroup?: RunCgroup } {
  switch (backend) {
    case 'cgroup':
      try {
        const cgroup = RunCgroup.create(runId);
        return { report: { backend, available: true, why: `a writable cgroup2 hierarchy: runs go to ${cgroup.path.slice(0, -runId.length - 1)}` }, cgroup };
      } catch (error) {
        if (!(error instanceof CgroupUnavailableError)) throw error;
        return { report: { backend, available: false, why: error.message } };
      }
    case 'subreaper': {
      const calls = libc();
      if (!calls) return { report: { backend, available: false, why: libcError() } };
      try {
        calls.setChildSubreaper();
        return { report: { backend, available: true, why: 'prctl(PR_SET_CHILD_SUBREAPER) through koffi works' } };
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
        return { report: { backend, available: false, why: error.message } };
      }
    }
    case 'pgroup':
      return {
        report: {
          backend,
          available: true,
          why: 'always: process group, session, ppid ancestry and the SCIDEX_RUN_ID cookie (a process that clears its environment and daemonizes escapes it)',
        },
      };
  }
}

/** What every tracker needs to know of the run, right after the spawn. */
export interface RunFacts {
  leaderPid: number;
  /** `SCIDEX_RUN_ID=<uuid>`; none for an adopted run, whose processes do not carry it. */
  cookie?: string;
  /** The wrapper's starttime, clock ticks. */
  minStarttime: number;
  /** `pid:starttime` keys of processes that are never members: the wrapper and its helpers. */
  excluded: ReadonlySet<string>;
  /** An adopted run's leader: its starttime, and whether it leads its group and session (track/pgroup.ts). */
  adopted?: { leaderStarttime: number; leadsGroup: boolean; leadsSession: boolean };
}

/** The tracker of the set-up backend. Call it synchronously after the spawn. */
export function openTracker(setup: TrackingSetup, facts: RunFacts): Tracker {
  switch (setup.backend) {
    case 'cgroup':
      return new CgroupTracker(setup.cgroup!.path, facts.leaderPid);
    case 'subreaper':
      return new SubreaperTracker({ rootPid: process.pid, leaderPid: facts.leaderPid, excluded: facts.excluded });
    case 'pgroup':
      return new PgroupTracker({
        leaderPid: facts.leaderPid,
        cookie: facts.cookie,
        minStarttime: facts.minStarttime,
        excluded: facts.excluded,
        adopted: facts.adopted,
      });
  }
}
