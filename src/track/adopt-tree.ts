/**
 * Tracking an adopted process (`scidex-watchdog adopt`): a tree that someone else started, whose
 * processes carry no SCIDEX_RUN_ID cookie and are not our descendants, so the subreaper backend
 * cannot see it and the cookie finds nothing of it.
 *
 *   - cgroup, where we may: the run's cgroup is made beneath the leader's own cgroup (its home),
 *     and the leader and every process of its tree that is in that home cgroup are moved into it (a
 *     write of each pid to its cgroup.procs, which needs write access to the cgroup.procs of both
 *     cgroups' common ancestor: root, or a user in a subtree delegated to them). From then on every
 *     child is born inside, as for a spawned run. The move is repeated until a pass over /proc finds
 *     no process of the tree left in the home cgroup: a child forked during a pass is found by the next.
 *     Never moved, and so never members (with cgroup tracking a member is what is in the run's
 *     cgroup): a process of another run (below a `/scidex-run/<run id>` cgroup, or carrying
 *     SCIDEX_RUN_ID: a scidex-run nested in the tree, whose own limits need its processes in its own
 *     cgroup), and one in a cgroup other than the home (an application's own sub-cgroups). They
 *     are named in the tracking report (run_started), and left where they are.
 *   - pgroup otherwise: ppid ancestry from the leader, plus its process group and session only
 *     when the leader leads them. A group or session the leader merely belongs to (the
 *     application's that started it, a login session) is never the run's.
 *
 * What is not tracked (docs/usage.md): a process the leader started before the adoption that has
 * since left its ancestry (a daemon that re-parented to init) and, under pgroup, one that does so
 * later between two scans.
 *
 * A pid is moved only after a pidfd was opened on it, its starttime re-read (the process listed
 * is the one the pidfd names) and its cgroup read again (still the home), and its starttime is read
 * again after the move: a process that exited in between and whose number was reused at once is
 * moved back to the cgroup it was in, never kept as a member. Every process moved came from the home
 * cgroup, and every process born inside descends from one of them: a release gives them all back to
 * the home, except what is another run's (a run cgroup nested in ours, or SCIDEX_RUN_ID), left alone.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRunId } from '../config/run-id.js';
import { cgroup2MountPoint, cgroupOf, readCgroupProcs } from '../proc/cgroup.js';
import { envValue } from '../proc/environ.js';
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
    if (typeof attempt !== 'string') {
      const left = attempt.left ? `; left where they are: ${attempt.left}` : '';
      reports.push({ backend: 'cgroup', available: true, why: `the adopted tree was moved into ${attempt.cgroup.path}${left}` });
      return { backend: 'cgroup', cgroup: attempt.cgroup, reports };
    }
    reports.push({ backend: 'cgroup', available: false, why: attempt });
    if (choice === 'cgroup') throw new BackendUnavailableError(`tracking backend 'cgroup' is not available for this process: ${attempt}`);
  }
  const { leadsGroup, leadsSession } = leadership(root);
  const groups = [leadsGroup ? 'its process group' : '', leadsSession ? 'its session' : ''].filter(Boolean).join(' and ');
  reports.push({ backend: 'pgroup', available: true, why: `ppid ancestry from the adopted process${groups ? `, and ${groups}, which it leads` : ''}; no cookie` });
  return { backend: 'pgroup', reports };
}

/** The run's cgroup with the tree in it and what of the tree was left where it is, or why not. */
function moveIntoRunCgroup(runId: string, root: AdoptedTreeRoot, excluded: ReadonlySet<string>): { cgroup: RunCgroup; left: string } | string {
  const home = cgroupOf(root.pid);
  if (home === undefined) return `/proc/${root.pid}/cgroup has no cgroup v2 entry`;
  let cgroup: RunCgroup;
  try {
    cgroup = RunCgroup.createBeneath(runId, home);
  } catch (error) {
    if (error instanceof CgroupUnavailableError) return error.message;
    throw error;
  }
  const procs = join(cgroup.path, 'cgroup.procs');
  const mount = cgroup2MountPoint()!;
  const homeProcs = join(mount, home, 'cgroup.procs');
  const anotherRuns = new Set<number>();
  const elsewhere = new Set<number>();
  try {
    for (let pass = 0; pass < MAX_MOVE_PASSES; pass++) {
      const toMove: ProcStat[] = [];
      for (const stat of treeOf(root, excluded)) {
        const where = cgroupOf(stat.pid);
        if (where === undefined) continue; // gone
        if (anotherRunsProcess(stat.pid, where)) anotherRuns.add(stat.pid);
        else if (where === home) toMove.push(stat);
        else if (!isWithin(where, cgroup.path.slice(mount.length))) elsewhere.add(stat.pid);
      }
      if (toMove.length === 0) return { cgroup, left: leftReport(anotherRuns, elsewhere) };
      for (const stat of toMove) moveVerified(stat, procs, home, homeProcs);
    }
    throw new Error(`the tree was still forking outside ${cgroup.path} after ${MAX_MOVE_PASSES} passes`);
  } catch (error) {
    giveBack(cgroup);
    cgroup.remove();
    return `cannot move the tree into ${cgroup.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
}

/** The tracking report's words on what of the tree was left where it was, '' for nothing. */
function leftReport(anotherRuns: ReadonlySet<number>, elsewhere: ReadonlySet<number>): string {
  const parts: string[] = [];
  if (anotherRuns.size > 0) parts.push(`not tracked, another run's (a run cgroup of its own, or SCIDEX_RUN_ID): pids ${[...anotherRuns].join(', ')}`);
  if (elsewhere.size > 0) parts.push(`not tracked, in a cgroup other than the adopted process's: pids ${[...elsewhere].join(', ')}`);
  return parts.join('; ');
}

/** Whether cgroup path `inner` (relative to the mount) is `outer` or below it. */
function isWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(`${outer}/`);
}

/**
 * Whether process `pid` belongs to another run: its cgroup `where` (relative to the mount) is a run
 * cgroup or below one (a `scidex-run/<run id>` pair in it beneath `ours`, or anywhere when `ours`
 * is not given), or its environment carries SCIDEX_RUN_ID (a nested scidex-run's command, moved
 * into its cgroup a moment after its spawn, or one without a cgroup). Such a process is never moved.
 * @param ours our own run cgroup (relative to the mount): its own pair is not another run's
 */
function anotherRunsProcess(pid: number, where: string, ours?: string): boolean {
  if (envValue(pid, 'SCIDEX_RUN_ID') !== undefined) return true;
  const below = ours === undefined ? where : isWithin(where, ours) ? where.slice(ours.length) : '';
  const parts = below.split('/');
  return parts.some((part, at) => part === 'scidex-run' && isRunId(parts[at + 1] ?? ''));
}

/**
 * Moves one listed process into the cgroup whose cgroup.procs is `procs`, by identity (module
 * comment): only while it is still in the cgroup `from` (relative to the mount) whose cgroup.procs
 * is `fromProcs`. One that exited or moved meanwhile is skipped.
 * @throws the cgroup write's error (EACCES, EPERM, EBUSY, ...)
 */
function moveVerified(stat: ProcStat, procs: string, from: string, fromProcs: string): void {
  const calls = libc();
  let pidfd: number | undefined;
  try {
    pidfd = calls?.pidfdOpen(stat.pid);
  } catch {
    return; // ESRCH: gone
  }
  try {
    if (readStat(stat.pid)?.starttime !== stat.starttime) return;
    // Read last before the write: a process that left the home meanwhile is not ours to move.
    if (cgroupOf(stat.pid) !== from) return;
    try {
      writeFileSync(procs, String(stat.pid));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw error;
    }
    // Moved whoever has the number now: if that is no longer the process listed, it goes back.
    if (readStat(stat.pid)?.starttime !== stat.starttime) moveBack(stat.pid, fromProcs);
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
 * from: a released run leaves its processes where they were before the adoption. Every process
 * moved in came from that cgroup (moveIntoRunCgroup moves only the home's), and every other one in
 * the run's cgroup was born there of them. What is another run's (a run cgroup nested below ours,
 * or SCIDEX_RUN_ID) stays where it is, that run's limits on it intact. Never throws.
 * @returns the pids that could not be moved back (they stay in the run's cgroup, never signalled);
 *          another run's are not among them
 */
export function giveBack(cgroup: RunCgroup): number[] {
  return giveBackPath(cgroup.path, cgroup.home);
}

/**
 * giveBack for a run cgroup known by its path alone (a reaper's): the tree goes back to the cgroup
 * two levels up, `<home>/scidex-run/<run-id>`'s home. Never throws.
 * @param path the run cgroup's directory (absolute, below the cgroup2 mount)
 * @param homeProcs the home cgroup's cgroup.procs file
 */
export function giveBackPath(path: string, homeProcs = join(path, '..', '..', 'cgroup.procs')): number[] {
  const mount = cgroup2MountPoint();
  const ours = mount !== undefined && path.startsWith(`${mount}/`) ? path.slice(mount.length) : undefined;
  // Ours to give back: still within our cgroup (read just before its write: a number reused by a
  // process elsewhere is not moved), and not another run's.
  const ownPids = (): number[] =>
    cgroupProcesses(path).filter((pid) => {
      const where = cgroupOf(pid);
      return ours !== undefined && where !== undefined && isWithin(where, ours) && !anotherRunsProcess(pid, where, ours);
    });
  const stuck: number[] = [];
  for (let pass = 0; pass < MAX_MOVE_PASSES; pass++) {
    const pids = ownPids();
    if (pids.length === 0) return [];
    stuck.length = 0;
    for (const pid of pids) {
      try {
        writeFileSync(homeProcs, String(pid));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') stuck.push(pid);
      }
    }
    if (stuck.length > 0 && stuck.length === ownPids().length) return stuck;
  }
  return ownPids();
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
