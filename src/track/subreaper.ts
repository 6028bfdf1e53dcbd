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

/** Re-walks per scan at most, while members vanish from a walk and new processes turn up. */
const MAX_REWALKS = 8;

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
    let stats = this.walk();
    // The walk is not atomic: a child whose parent exits mid-walk moves to the wrapper, and a walk
    // that read the wrapper's children before the move and the parent's after it misses the child.
    // By the time the parent is seen gone its children hang under the wrapper, so while members
    // vanish, walk again and keep what is still alive.
    for (let round = 0; round < MAX_REWALKS; round++) {
      const seen = new Set(stats.map((stat) => stat.pid));
      if (!this.table.members().some((member) => member.alive && !seen.has(member.pid))) break;
      const again = new Map(this.walk().map((stat) => [stat.pid, stat]));
      let found = false;
      for (const stat of stats) {
        if (again.has(stat.pid)) continue;
        const fresh = readStat(stat.pid);
        if (fresh && fresh.starttime === stat.starttime) again.set(stat.pid, fresh);
      }
      for (const pid of again.keys()) if (!seen.has(pid)) found = true;
      stats = [...again.values()];
      if (!found) break;
    }
    const { leaderPid, rootPid } = this.options;
    return this.table.apply(stats, (stat) => (stat.pid === leaderPid && stat.ppid === rootPid ? 'leader' : 'subreaper'));
  }

  /** Every descendant of the wrapper but the helpers and theirs, depth first through the children files. */
  private walk(): ProcStat[] {
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
    return stats;
  }

  members() {
    return this.table.members();
  }

  release(): void {}
}
