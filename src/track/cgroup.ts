/**
 * The cgroup v2 tracker: the run's processes are exactly the processes of its cgroup and the
 * cgroups below it (a nested scidex-run makes one). The kernel puts every child in its parent's
 * cgroup at fork, and an unprivileged process cannot move itself out, so nothing escapes by
 * setsid, setpgid, clearing its environment or re-parenting to init. See run-cgroup.ts for how
 * the cgroup is made and the leader put into it.
 */
import { readCgroupProcs } from '../proc/cgroup.js';
import { readStat, type ProcStat } from '../proc/stat.js';
import { MemberTable } from './member-table.js';
import type { Tracker, TreeSnapshot } from './tracker.js';
import { removeCgroupTree } from './run-cgroup.js';

export class CgroupTracker implements Tracker {
  readonly backend = 'cgroup' as const;
  readonly cgroupPath: string;
  private readonly table = new MemberTable();
  private scanned = false;

  /**
   * @param cgroupPath the run's cgroup directory, absolute
   * @param leaderPid the spawned process, when known (the reaper may not know it)
   */
  constructor(
    cgroupPath: string,
    private readonly leaderPid?: number,
  ) {
    this.cgroupPath = cgroupPath;
  }

  scan(afterListing?: () => void): TreeSnapshot {
    const stats: ProcStat[] = [];
    const pids = new Set(readCgroupProcs(this.cgroupPath));
    afterListing?.();
    // A leader that exited at once is a zombie, which cgroup.procs no longer lists. The first scan
    // comes before libuv can reap it, so its pid is still ours; later scans know it as a member.
    if (!this.scanned && this.leaderPid !== undefined) pids.add(this.leaderPid);
    this.scanned = true;
    for (const pid of pids) {
      if (pid === process.pid) continue;
      const stat = readStat(pid);
      if (stat) stats.push(stat);
    }
    return this.table.apply(stats, (stat) => (stat.pid === this.leaderPid ? 'leader' : 'cgroup'));
  }

  members() {
    return this.table.members();
  }

  release(): void {
    removeCgroupTree(this.cgroupPath);
  }
}
