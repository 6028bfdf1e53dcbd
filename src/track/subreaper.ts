/**
 * The subreaper tracker. The wrapper has made itself the child subreaper (prctl
 * PR_SET_CHILD_SUBREAPER) before the spawn, so a descendant whose parent dies re-parents to the
 * wrapper instead of init: every process of the run stays a descendant of the wrapper, whatever
 * it does with its group, session or environment. A scan walks the tree down from the wrapper
 * through the per-thread children files. The only way out is a new parent outside the tree, which
 * Linux does not offer (or the wrapper's death: the lifeline and the reaper cover that).
 *
 * Adopted zombies are the wrapper's children now, and libuv reaps only the children it spawned:
 * supervise/ reaps them by pid (never waitpid(-1), which would take the leader's status from libuv).
 */
import { readChildren } from '../proc/children.js';
import { readStat, type ProcStat } from '../proc/stat.js';
import { MemberTable } from './member-table.js';
import type { Tracker, TreeSnapshot } from './tracker.js';

export interface SubreaperTrackerOptions {
  /** The wrapper: the root of the walk, never a member. */
  rootPid: number;
  leaderPid: number;
  /** Children of the wrapper that are not the run's (the lifeline). */
  excludePids: readonly number[];
}

export class SubreaperTracker implements Tracker {
  readonly backend = 'subreaper' as const;
  private readonly table = new MemberTable();

  constructor(private readonly options: SubreaperTrackerOptions) {}

  scan(): TreeSnapshot {
    const stats: ProcStat[] = [];
    const queue = readChildren(this.options.rootPid).filter((pid) => !this.options.excludePids.includes(pid));
    const seen = new Set<number>();
    while (queue.length > 0) {
      const pid = queue.pop()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      const stat = readStat(pid);
      if (!stat) continue;
      stats.push(stat);
      queue.push(...readChildren(pid));
    }
    const { leaderPid } = this.options;
    return this.table.apply(stats, (stat) => (stat.pid === leaderPid && stat.ppid === this.options.rootPid ? 'leader' : 'subreaper'));
  }

  members() {
    return this.table.members();
  }

  release(): void {}
}
