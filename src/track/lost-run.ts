/**
 * The tree of a run whose wrapper this process is not, found without trusting the record: the
 * reaper finishing a lost run (watchdog/reap.ts) and the live figures of a running one
 * (query/run-view.ts) both find it here, the same way.
 */
import { lstatSync } from 'node:fs';
import { readStat } from '../proc/stat.js';
import { CgroupTracker } from './cgroup.js';
import { memberKey } from './member.js';
import { PgroupTracker } from './pgroup.js';
import { isRunCgroupPath } from './run-cgroup.js';
import type { Tracker } from './tracker.js';

/** What a run's marker or row says of where its tree is (record/markers.ts RunMarker has these fields). */
export interface RunWhereabouts {
  /** The run id (a UUID): the cookie is `SCIDEX_RUN_ID=<id>`, the canonical cgroup ends in `/scidex-run/<id>`. */
  id: string;
  /** The run's cgroup as recorded, or null. */
  cgroup_path: string | null;
  /** The wrapper's start, clock ticks after boot (proc(5) stat field 22): no member started before it. */
  wrapper_starttime: number;
}

/** Whether `path` exists and, when `owner` (a uid) is given, belongs to that user (lstat: a symlink is its own). */
export function ownedBy(path: string, owner: number | undefined): boolean {
  try {
    return owner === undefined || lstatSync(path).uid === owner;
  } catch {
    return false;
  }
}

/**
 * The run's cgroup when the record names its canonical one and it exists (and, for `owner`, belongs
 * to that user: a user's wrapper creates its run cgroup in a subtree delegated to it), else the
 * cookie: processes started after the wrapper carrying `SCIDEX_RUN_ID=<id>` in /proc/PID/environ
 * that run as `runUser` (the trusted marker's owner, root included: run ids are public, and anyone
 * may carry one), and their children (the strict pgroup tracker), of `owner` alone when given.
 * This process is never one of them. Building it reads nothing; its scan() only reads, and its
 * release() removes the cgroup, so one that only looks never calls release().
 * @param owner only this uid's processes (and cgroup) at all; undefined for any
 * @param runUser the run's user (uid): a cookie carrier of another user is no member; undefined
 *        only where nothing proves the run's user (a database row without a marker)
 */
export function lostRunTracker(run: RunWhereabouts, owner: number | undefined, runUser: number | undefined): Tracker {
  const cgroup = run.cgroup_path;
  if (cgroup && isRunCgroupPath(cgroup, run.id) && ownedBy(cgroup, owner)) return new CgroupTracker(cgroup);
  return new PgroupTracker({
    owner,
    cookieOwner: runUser,
    leaderPid: 0,
    cookie: `SCIDEX_RUN_ID=${run.id}`,
    minStarttime: run.wrapper_starttime,
    excluded: new Set([memberKey(process.pid, readStat(process.pid)?.starttime ?? -1)]),
    strict: true,
  });
}

/**
 * `uid` when a run is another user's than ours and not root's: then only that user's processes
 * (and a cgroup of theirs) may be taken for the run's. Undefined for our own runs and root's.
 */
export function foreignOwner(uid: number | undefined): number | undefined {
  return uid === undefined || uid === 0 || uid === process.getuid?.() ? undefined : uid;
}
