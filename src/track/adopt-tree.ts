/**
 * Tracking an adopted process (`scidex-watchdog adopt`): a tree that someone else started, whose
 * processes carry no SCIDEX_RUN_ID cookie and are not our descendants, so the subreaper backend
 * cannot see it and the cookie finds nothing of it.
 *
 *   - cgroup, where we may: the run's cgroup is made beneath the leader's own cgroup, and the
 *     leader and every process of its tree are moved into it (a write of each pid to its
 *     cgroup.procs, which needs write access to the cgroup.procs of both cgroups' common ancestor:
 *     root, or a user in a subtree delegated to them). From then on every child is born inside, as
 *     for a spawned run. The move is repeated until a pass over /proc finds no process of the tree
 *     outside: a child forked during a pass is found by the next.
 *   - pgroup otherwise: ppid ancestry from the leader, plus its process group and session only
 *     when the leader leads them. A group or session the leader merely belongs to (the
 *     application's that started it, a login session) is never the run's.
 *
 * What is not tracked (docs/usage.md): a process the leader started before the adoption that has
 * since left its ancestry (a daemon that re-parented to init) and, under pgroup, one that does so
 * later between two scans.
 *
 * A pid is moved only after a pidfd was opened on it and its starttime re-read (the process listed
 * is the one the pidfd names), and its starttime is read again after the move: a process that
 * exited in between and whose number was reused at once is moved back out, never kept as a member.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2MountPoint, cgroupOf, readCgroupProcs } from '../proc/cgroup.js';
import { listPids } from '../proc/list.js';
import { isDead, readStat, type ProcStat } from '../proc/stat.js';
import { libc } from '../sys/libc.js';
import { memberKey } from './member.js';
import { CgroupUnavailableError, RunCgroup } from './run-cgroup.js';
import { BackendUnavailableError, type BackendReport, type TrackingChoice, type TrackingSetup } from './select.js';

/** Passes of the move at most: a tree that still forks outside after them is refused the backend. */
const MAX_MOVE_PASSES = 20;

/** The leader of an adopted run, as tracking needs it. */
export interface AdoptedTreeRoot {
  pid: number;
  starttime: number;
  pgid: number;
  sid: number;
}

/** Whether the leader leads its process group and its session (they are the run's only then). */
export function leadership(root: AdoptedTreeRoot): { leadsGroup: boolean; leadsSession: boolean } {
  return { leadsGroup: root.pgid === root.pid, leadsSession: root.sid === root.pid };
}

/**
 * The tracking of an adopted run: cgroup (the tree moved into the run's cgroup) where asked or
 * possible, else pgroup.
 * @param excluded `pid:starttime` of processes never moved (the supervisor, its helpers)
 * @throws BackendUnavailableError when the backend asked for cannot track an adopted process here
 */
export function setUpAdoptedTracking(choice: TrackingChoice, runId: string, root: AdoptedTreeRoot, excluded: ReadonlySet<string>): TrackingSetup {
  if (choice === 'subreaper') {
    throw new BackendUnavailableError("tracking backend 'subreaper' cannot track an adopted process: it sees only our own descendants");
  }
  const reports: BackendReport[] = [];
  if (choice === 'cgroup' || choice === 'auto') {
    const attempt = moveIntoRunCgroup(runId, root, excluded);
    if (attempt instanceof RunCgroup) {
      reports.push({ backend: 'cgroup', available: true, why: `the adopted tree was moved into ${attempt.path}` });
      return { backend: 'cgroup', cgroup: attempt, reports };
    }
    reports.push({ backend: 'cgroup', available: false, why: attempt });
    if (choice === 'cgroup') throw new BackendUnavailableError(`tracking backend 'cgroup' is not available for this process: ${attempt}`);
  }
  const { leadsGroup, leadsSession } = leadership(root);
  const groups = [leadsGroup ? 'its process group' : '', leadsSession ? 'its session' : ''].filter(Boolean).join(' and ');
  reports.push({ backend: 'pgroup', available: true, why: `ppid ancestry from the adopted process${groups ? `, and ${groups}, which it leads` : ''}; no cookie` });
  return { backend: 'pgroup', reports };
}

/** The run's cgroup with the tree in it, or why not. */
function moveIntoRunCgroup(runId: string, root: AdoptedTreeRoot, excluded: ReadonlySet<string>): RunCgroup | string {
  const home = cgroupOf(root.pid);
  if (home === undefined) return `/proc/${root.pid}/cgroup has no cgroup v2 entry`;
  let cgroup: RunCgroup;
  try {
    cgroup = RunCgroup.createBeneath(runId, home);
  } catch (error) {
    if (error instanceof CgroupUnavailableError) return error.message;
    throw error;
  }
  const inside = cgroup.path.slice(cgroup2MountPoint()!.length) || '/';
  const procs = join(cgroup.path, 'cgroup.procs');
  try {
    for (let pass = 0; pass < MAX_MOVE_PASSES; pass++) {
      const outside = treeOf(root, excluded).filter((stat) => cgroupOf(stat.pid) !== inside);
      if (outside.length === 0) return cgroup;
      for (const stat of outside) moveVerified(stat, procs, cgroup.home);
    }
    throw new Error(`the tree was still forking outside ${cgroup.path} after ${MAX_MOVE_PASSES} passes`);
  } catch (error) {
    giveBack(cgroup);
    cgroup.remove();
    return `cannot move the tree into ${cgroup.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
}

/**
 * Moves one listed process into the cgroup whose cgroup.procs is `procs`, by identity (module
 * comment); one that exited meanwhile is skipped.
 * @throws the cgroup write's error (EACCES, EPERM, EBUSY, ...)
 */
function moveVerified(stat: ProcStat, procs: string, homeProcs: string): void {
  const calls = libc();
  let pidfd: number | undefined;
  try {
    pidfd = calls?.pidfdOpen(stat.pid);
  } catch {
    return; // ESRCH: gone
  }
  try {
    if (readStat(stat.pid)?.starttime !== stat.starttime) return;
    try {
      writeFileSync(procs, String(stat.pid));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw error;
    }
    // Moved whoever has the number now: if that is no longer the process listed, it goes back.
    if (readStat(stat.pid)?.starttime !== stat.starttime) moveBack(stat.pid, homeProcs);
  } finally {
    if (pidfd !== undefined) calls!.close(pidfd);
  }
}

function moveBack(pid: number, homeProcs: string): void {
  try {
    writeFileSync(homeProcs, String(pid));
  } catch {
    // Gone already.
  }
}

/**
 * Moves every process of the run's cgroup (and those below it) back to the cgroup the tree came
 * from: a released run leaves its processes where they were before the adoption. Never throws.
 * @returns the pids that could not be moved back (they stay in the run's cgroup, never signalled)
 */
export function giveBack(cgroup: RunCgroup): number[] {
  return giveBackPath(cgroup.path, cgroup.home);
}

/**
 * giveBack for a run cgroup known by its path alone (a reaper's): the tree goes back to the cgroup
 * two levels up, `<home>/scidex-run/<run-id>`'s home. Never throws.
 */
export function giveBackPath(path: string, homeProcs = join(path, '..', '..', 'cgroup.procs')): number[] {
  const cgroup = { path, home: homeProcs };
  const stuck: number[] = [];
  for (let pass = 0; pass < MAX_MOVE_PASSES; pass++) {
    const pids = cgroupProcesses(cgroup.path);
    if (pids.length === 0) return [];
    stuck.length = 0;
    for (const pid of pids) {
      try {
        writeFileSync(cgroup.home, String(pid));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') stuck.push(pid);
      }
    }
    if (stuck.length > 0 && stuck.length === cgroupProcesses(cgroup.path).length) return stuck;
  }
  return cgroupProcesses(cgroup.path);
}

function cgroupProcesses(path: string): number[] {
  return readCgroupProcs(path);
}

/**
 * The adopted tree as one pass over /proc finds it: the leader, every process started after it
 * whose parent is in the tree, and the members of its group and session when it leads them.
 * Zombies and the excluded are left out.
 */
export function treeOf(root: AdoptedTreeRoot, excluded: ReadonlySet<string>): ProcStat[] {
  const { leadsGroup, leadsSession } = leadership(root);
  const stats: ProcStat[] = [];
  for (const pid of listPids()) {
    const stat = readStat(pid);
    if (!stat || stat.starttime < root.starttime || isDead(stat) || excluded.has(memberKey(pid, stat.starttime))) continue;
    stats.push(stat);
  }
  const tree = new Map<number, ProcStat>();
  const leader = stats.find((stat) => stat.pid === root.pid && stat.starttime === root.starttime);
  if (!leader) return [];
  tree.set(leader.pid, leader);
  for (const stat of stats) {
    if ((leadsGroup && stat.pgid === root.pid) || (leadsSession && stat.sid === root.pid)) tree.set(stat.pid, stat);
  }
  // Ancestry to a fixed point: /proc lists parents before children only when pids did not wrap.
  for (let grew = true; grew; ) {
    grew = false;
    for (const stat of stats) {
      if (!tree.has(stat.pid) && tree.has(stat.ppid)) {
        tree.set(stat.pid, stat);
        grew = true;
      }
    }
  }
  return [...tree.values()];
}
