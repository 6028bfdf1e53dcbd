/**
 * Choosing the tracking backend: the strongest one this host supports, or the one asked for.
 * Each probe does what the backend needs for real (the cgroup is created and entered and left;
 * prctl is called), so a backend that is reported available works.
 */
import { libc, libcError, SyscallError } from '../sys/libc.js';
import { backstopBytes, CgroupUnavailableError, RunCgroup } from './run-cgroup.js';
import { V1MemoryCgroup, type MemoryBackstop } from './memory-backstop.js';
import type { OomCounts } from '../proc/cgroup.js';
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
  /**
   * The run's cgroup in the v1 memory hierarchy, whatever the backend: the kernel backstop where the
   * run's cgroup v2 has no memory controller (setUpMemoryBackstop).
   */
  memoryV1?: V1MemoryCgroup;
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

/**
 * Sets the kernel memory backstop for a tree memory limit (`limitBytes`, 0: none): memory.max on the
 * run's cgroup v2 where it has the memory controller; else, where a v1 memory hierarchy is writable,
 * a v1 memory cgroup of the run (memory-backstop.ts), whatever the backend. Where neither works there
 * is no backstop, and the run goes on all the same (--explain-tracking says why).
 */
export function setUpMemoryBackstop(setup: TrackingSetup, runId: string, limitBytes: number): void {
  if (limitBytes <= 0) return;
  setup.cgroup?.setMemoryBackstop(limitBytes);
  if (setup.cgroup?.backstopBytes != null) return;
  try {
    setup.memoryV1 = V1MemoryCgroup.create(runId, backstopBytes(limitBytes));
  } catch (error) {
    if (!(error instanceof CgroupUnavailableError)) throw error;
  }
}

/** The run's kernel backstop, where one was set. */
export function memoryBackstopOf(setup: TrackingSetup): MemoryBackstop | null {
  if (setup.memoryV1) return { hierarchy: 'v1', cgroup: setup.memoryV1.path, bytes: setup.memoryV1.bytes };
  if (setup.cgroup?.backstopBytes != null) return { hierarchy: 'v2', cgroup: setup.cgroup.path, bytes: setup.cgroup.backstopBytes };
  return null;
}

/** The kernel's OOM counters of the run's memory cgroup, with which one it is. */
export interface RunOomCounts extends OomCounts {
  hierarchy: 'v1' | 'v2';
  cgroup: string;
}

/**
 * The OOM counters of the run's memory cgroup: the v1 one where the run has one, else its cgroup
 * v2 when that has the memory controller (a backstop of ours or a job's memory.max above it).
 * @returns undefined where the run is in no memory cgroup of its own (or it is gone)
 */
export function runOomCounts(setup: TrackingSetup): RunOomCounts | undefined {
  if (setup.memoryV1) {
    const counts = setup.memoryV1.oomCounts();
    return counts && { hierarchy: 'v1', cgroup: setup.memoryV1.path, ...counts };
  }
  const counts = setup.cgroup?.oomCounts();
  return counts && { hierarchy: 'v2', cgroup: setup.cgroup!.path, ...counts };
}

/** The bracket of the leader's spawn (supervise/spawn.ts SpawnBracket), and what it had to leave out. */
export interface SpawnCgroups {
  enter(): void;
  leave(): void;
  /** Why the v1 memory cgroup was left out at the spawn (it could not be entered), once enter() ran. */
  skipped?: string;
}

/**
 * What the wrapper enters around the leader's fork, so the leader starts in them: the run's cgroup
 * v2, then its v1 memory cgroup; left in the reverse order. Undefined when there are none. The v1
 * memory cgroup is an extra: one that can no longer be entered (removed under the run, say) is left
 * out, removed from `setup`, and said in `skipped`; the run goes on without the backstop.
 */
export function spawnCgroups(setup: TrackingSetup): SpawnCgroups | undefined {
  const { cgroup, memoryV1 } = setup;
  if (!cgroup && !memoryV1) return undefined;
  let inV1 = false;
  const bracket: SpawnCgroups = {
    enter: () => {
      cgroup?.enter();
      if (!memoryV1) return;
      try {
        memoryV1.enter();
        inV1 = true;
      } catch (error) {
        memoryV1.remove();
        setup.memoryV1 = undefined;
        bracket.skipped = `cannot move into ${memoryV1.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
      }
    },
    leave: () => {
      // Both are left whatever the first does: the wrapper must never stay in a cgroup it kills.
      let failure: unknown;
      try {
        if (inV1) memoryV1?.leave();
      } catch (error) {
        failure = error;
      }
      try {
        cgroup?.leave();
      } catch (error) {
        failure ??= error;
      }
      if (failure !== undefined) throw failure;
    },
  };
  return bracket;
}

/** Removes the run's cgroups, v2 and v1 memory, where they are empty; never throws. */
export function removeRunCgroups(setup: TrackingSetup): void {
  setup.cgroup?.remove();
  setup.memoryV1?.remove();
}

/**
 * Reports, without keeping anything, which kernel memory backstop a run with a memory limit would
 * get here (--explain-tracking): the run's cgroup v2 memory.max, a cgroup v1 memory cgroup, or none.
 * The v1 cgroup is made, entered, left and removed, as a run's would be.
 */
export function explainMemoryBackstop(probeId: string, limitBytes: number): { hierarchy: 'v1' | 'v2' | null; why: string } {
  let v2: string;
  try {
    const cgroup = RunCgroup.create(probeId);
    const available = cgroup.memoryControllerAvailable();
    cgroup.remove();
    if (available) return { hierarchy: 'v2', why: `memory.max of the run's cgroup v2 (and memory.oom.group 1: the tree is killed whole)` };
    v2 = "the run's cgroup v2 has no memory controller";
  } catch (error) {
    if (!(error instanceof CgroupUnavailableError)) throw error;
    v2 = `no run cgroup v2 (${error.message})`;
  }
  try {
    const cgroup = V1MemoryCgroup.create(probeId, backstopBytes(limitBytes));
    cgroup.remove();
    return {
      hierarchy: 'v1',
      why: `${v2}: memory.limit_in_bytes of a cgroup v1 memory cgroup in ${cgroup.path.slice(0, -probeId.length - 1)} (the kernel kills one process; scidex-run then ends the tree)`,
    };
  } catch (error) {
    if (!(error instanceof CgroupUnavailableError)) throw error;
    return { hierarchy: null, why: `${v2}, and no cgroup v1 memory cgroup: ${error.message}` };
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
        // The run's user is the wrapper's: another user's process carrying the cookie is not the run's.
        cookieOwner: process.getuid?.(),
        minStarttime: facts.minStarttime,
        excluded: facts.excluded,
        adopted: facts.adopted,
      });
  }
}
