/**
 * The bookkeeping every backend shares: the members ever seen, keyed by (pid, starttime), and the
 * turning of one scan's /proc stats into a TreeSnapshot (who was born, who died, the RSS sum).
 * Backends differ only in which processes they look at and how they tell a member from a stranger.
 */
import { readCmdline } from '../proc/cmdline.js';
import { isDead, type ProcStat } from '../proc/stat.js';
import { pageSizeBytes } from '../proc/system.js';
import { memberKey, type FoundBy, type Member } from './member.js';
import type { TreeSnapshot } from './tracker.js';

/**
 * Says whether a process not yet a member belongs to the run, and how it was found.
 * `isMember(pid)` tells whether the process now holding `pid` is a member (for ppid ancestry).
 */
export type Classifier = (stat: ProcStat, isMember: (pid: number) => boolean) => FoundBy | undefined;

export class MemberTable {
  private readonly byKey = new Map<string, Member>();
  private readonly ordered: Member[] = [];
  private readonly pageSize = pageSizeBytes();

  /** Every member ever seen, in order of discovery. */
  members(): Member[] {
    return this.ordered;
  }

  /**
   * Applies one scan. `stats` are the processes the backend looked at (members and candidates);
   * a member missing from them is gone. Candidates are classified until no more are admitted,
   * since a child may be listed before its parent.
   */
  apply(stats: readonly ProcStat[], classify: Classifier): TreeSnapshot {
    const atMs = Date.now();
    const present = new Map<number, string>();
    const candidates: ProcStat[] = [];
    const born: Member[] = [];
    const died: Member[] = [];

    for (const stat of stats) {
      const key = memberKey(stat.pid, stat.starttime);
      present.set(stat.pid, key);
      const member = this.byKey.get(key);
      if (member) this.update(member, stat, atMs, died);
      else candidates.push(stat);
    }
    const isMember = (pid: number): boolean => {
      const key = present.get(pid);
      return key !== undefined && this.byKey.has(key);
    };

    let pending = candidates;
    for (let progress = true; progress && pending.length > 0; ) {
      progress = false;
      const unresolved: ProcStat[] = [];
      for (const stat of pending) {
        const foundBy = classify(stat, isMember);
        if (!foundBy) {
          unresolved.push(stat);
          continue;
        }
        const member = this.admit(stat, foundBy, atMs);
        if (member.alive) born.push(member);
        progress = true;
      }
      pending = unresolved;
    }

    for (const member of this.ordered) {
      if (member.alive && present.get(member.pid) !== memberKey(member.pid, member.starttime)) {
        member.alive = false;
        died.push(member);
      }
    }
    const alive = this.ordered.filter((member) => member.alive);
    const rssBytes = alive.reduce((sum, member) => sum + member.rssBytes, 0);
    return { alive, born, died, rssBytes, atMs };
  }

  private admit(stat: ProcStat, foundBy: FoundBy, atMs: number): Member {
    const rssBytes = stat.rssPages * this.pageSize;
    const member: Member = {
      pid: stat.pid,
      starttime: stat.starttime,
      ppid: stat.ppid,
      pgid: stat.pgid,
      sid: stat.sid,
      state: stat.state,
      comm: stat.comm,
      argv: readCmdline(stat.pid),
      foundBy,
      firstSeenMs: atMs,
      lastSeenMs: atMs,
      rssBytes,
      peakRssBytes: rssBytes,
      cpuTicks: stat.utimeTicks + stat.stimeTicks,
      alive: !isDead(stat),
    };
    this.byKey.set(memberKey(stat.pid, stat.starttime), member);
    this.ordered.push(member);
    return member;
  }

  private update(member: Member, stat: ProcStat, atMs: number, died: Member[]): void {
    member.ppid = stat.ppid;
    member.pgid = stat.pgid;
    member.sid = stat.sid;
    member.state = stat.state;
    member.comm = stat.comm;
    member.lastSeenMs = atMs;
    if (isDead(stat)) {
      if (member.alive) died.push(member);
      member.alive = false;
      return;
    }
    // Alive again: an earlier scan that missed it (a subreaper walk racing a re-parent) was wrong,
    // since (pid, starttime) names one process; it must be signalled like any member.
    member.alive = true;
    member.rssBytes = stat.rssPages * this.pageSize;
    member.peakRssBytes = Math.max(member.peakRssBytes, member.rssBytes);
    member.cpuTicks = stat.utimeTicks + stat.stimeTicks;
  }
}
