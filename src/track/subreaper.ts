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
import { isDead, readStat, type ProcStat } from '../proc/stat.js';
import { memberKey } from './member.js';
import { MemberTable } from './member-table.js';
import type { Tracker, TreeSnapshot } from './tracker.js';

/** Re-walks per scan at most, while members vanish from a walk and new processes turn up. */
const MAX_REWALKS = 8;

export interface SubreaperTrackerOptions {
  /** The wrapper: the root of the walk, never a member. */
  rootPid: number;
  leaderPid: number;
  /** `pid:starttime` keys of the wrapper's children that are not the run's (the lifeline, reapers). */
  excluded: ReadonlySet<string>;
}

export class SubreaperTracker implements Tracker {
  readonly backend = 'subreaper' as const;
  private readonly table = new MemberTable();

  constructor(private readonly options: SubreaperTrackerOptions) {}

  scan(): TreeSnapshot {
    let walk = this.walk();
    // The walk is not atomic: a process that exits mid-walk hands its children to the wrapper, and a
    // walk that read the wrapper's children before that and the process's after it misses them. By
    // the time a process is seen gone or a zombie, its children hang under the wrapper: while a walk
    // saw one (or a known member is missing), walk again and keep what is still alive.
    for (let round = 0; round < MAX_REWALKS; round++) {
      const seen = new Set(walk.stats.map((stat) => stat.pid));
      const vanished = this.table.members().some((member) => member.alive && !seen.has(member.pid));
      if (!vanished && !walk.unsettled) break;
      const again = this.walk();
      const merged = new Map(again.stats.map((stat) => [stat.pid, stat]));
      for (const stat of walk.stats) {
        if (merged.has(stat.pid)) continue;
        const fresh = readStat(stat.pid);
        if (fresh && fresh.starttime === stat.starttime) merged.set(stat.pid, fresh);
      }
      const found = [...merged.keys()].some((pid) => !seen.has(pid));
      walk = { stats: [...merged.values()], unsettled: again.unsettled };
      if (!found) break;
    }
    const { leaderPid, rootPid } = this.options;
    return this.table.apply(walk.stats, (stat) => (stat.pid === leaderPid && stat.ppid === rootPid ? 'leader' : 'subreaper'));
  }

  /**
   * Every descendant of the wrapper but its helpers, depth first through the children files.
   * `unsettled`: the walk met a process that exited under it (a zombie, or gone before its stat was read).
   */
  private walk(): { stats: ProcStat[]; unsettled: boolean } {
    const stats: ProcStat[] = [];
    const queue = readChildren(this.options.rootPid);
    const seen = new Set<number>();
    let unsettled = false;
    while (queue.length > 0) {
      const pid = queue.pop()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      const stat = readStat(pid);
      if (!stat || isDead(stat)) unsettled = true;
      if (!stat || this.options.excluded.has(memberKey(pid, stat.starttime))) continue;
      stats.push(stat);
      queue.push(...readChildren(pid));
    }
    return { stats, unsettled };
  }

  members() {
    return this.table.members();
  }

  release(): void {}
}
