/**
 * The process-group tracker: the backend that works on every Linux host, privileged or not.
 *
 * A process belongs to the run when, at a scan, it is
 *   - the leader (the process we spawned, in a session and process group of its own),
 *   - in the leader's process group or session (every descendant that did not leave them),
 *   - the child of a member (ppid ancestry: catches children that called setpgid or setsid while
 *     their parent is still a member), or
 *   - carrying the run's cookie (SCIDEX_RUN_ID=<uuid>) in its exec-time environment: the Jenkins
 *     ProcessTreeKiller technique, for daemons that called setsid and re-parented to init before
 *     a scan saw them.
 * Every scan reads /proc/PID/stat of every process started after the wrapper: the ppid field is the
 * parent's thread-group id, so a child forked from any thread is found without walking the per-thread
 * task/TID/children files. Processes older than the wrapper are skipped on their starttime alone.
 * Limit: a process that cleared its environment, then daemonized between two scans, escapes this
 * backend (a cgroup or subreaper backend catches it).
 *
 * PID reuse: the kernel keeps a PID number allocated while any process uses it as PGID or SID, so a
 * number is reused only after our group is empty. Once /proc/<leader> shows a different starttime,
 * group and session matches are switched off for good.
 */
import { readCmdline } from '../proc/cmdline.js';
import { hasEnvEntry } from '../proc/environ.js';
import { listPids } from '../proc/list.js';
import { isDead, readStat, type ProcStat } from '../proc/stat.js';
import { pageSizeBytes } from '../proc/system.js';
import { memberKey, type FoundBy, type Member } from './member.js';
import type { Tracker, TreeSnapshot } from './tracker.js';

export interface PgroupTrackerOptions {
  /** The spawned process; also the PGID and SID of the run (it was started with setsid). */
  leaderPid: number;
  /** The exact environment entry every process of the run inherits: `SCIDEX_RUN_ID=<uuid>`. */
  cookie: string;
  /** Our own pid: never a member. */
  wrapperPid: number;
  /** Our own starttime (clock ticks): a process started before it cannot be ours. */
  minStarttime: number;
}

/** See the file comment. Construct it right after spawn, before yielding to the event loop. */
export class PgroupTracker implements Tracker {
  readonly backend = 'pgroup' as const;
  private readonly byKey = new Map<string, Member>();
  private readonly ordered: Member[] = [];
  private readonly cookieVerdicts = new Map<string, boolean>();
  private leaderStarttime: number | undefined;
  private groupReused = false;
  private readonly pageSize = pageSizeBytes();

  constructor(private readonly options: PgroupTrackerOptions) {}

  scan(): TreeSnapshot {
    const atMs = Date.now();
    const present = new Map<number, string>();
    const candidates: ProcStat[] = [];
    const born: Member[] = [];
    const died: Member[] = [];

    for (const pid of listPids()) {
      if (pid === this.options.wrapperPid) continue;
      const stat = readStat(pid);
      if (!stat || stat.starttime < this.options.minStarttime) continue;
      const key = memberKey(pid, stat.starttime);
      present.set(pid, key);
      const member = this.byKey.get(key);
      if (member) this.update(member, stat, atMs, died);
      else candidates.push(stat);
    }
    this.checkLeaderIdentity(present);

    // A child may be listed before its parent: resolve to a fixed point.
    let pending = candidates;
    for (let progress = true; progress && pending.length > 0; ) {
      progress = false;
      const unresolved: ProcStat[] = [];
      for (const stat of pending) {
        const foundBy = this.classify(stat, present);
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
    for (const key of this.cookieVerdicts.keys()) {
      if (present.get(Number(key.slice(0, key.indexOf(':')))) !== key) this.cookieVerdicts.delete(key);
    }

    this.checkGroupReleased(present);

    const alive = this.ordered.filter((member) => member.alive);
    const rssBytes = alive.reduce((sum, member) => sum + member.rssBytes, 0);
    return { alive, born, died, rssBytes, atMs };
  }

  members(): Member[] {
    return this.ordered;
  }

  private checkLeaderIdentity(present: Map<number, string>): void {
    const leaderKey = present.get(this.options.leaderPid);
    if (this.leaderStarttime === undefined) {
      // First scan, synchronously after spawn: the leader is alive or an unreaped zombie, so present.
      if (leaderKey) this.leaderStarttime = Number(leaderKey.slice(leaderKey.indexOf(':') + 1));
      else this.groupReused = true;
    } else if (leaderKey && leaderKey !== memberKey(this.options.leaderPid, this.leaderStarttime)) {
      this.groupReused = true;
    }
  }

  /**
   * Once no process uses the leader's number as pid, PGID or SID, the kernel may hand the number
   * out again, and a newcomer that calls setsid would carry it: stop matching on it for good.
   */
  private checkGroupReleased(present: Map<number, string>): void {
    if (this.groupReused || present.has(this.options.leaderPid)) return;
    const leader = this.options.leaderPid;
    const inUse = this.ordered.some((member) => member.alive && (member.pgid === leader || member.sid === leader));
    if (!inUse) this.groupReused = true;
  }

  private classify(stat: ProcStat, present: Map<number, string>): FoundBy | undefined {
    const { leaderPid } = this.options;
    if (stat.pid === leaderPid && stat.starttime === this.leaderStarttime) return 'leader';
    if (!this.groupReused && this.leaderStarttime !== undefined && stat.starttime >= this.leaderStarttime) {
      if (stat.pgid === leaderPid) return 'group';
      if (stat.sid === leaderPid) return 'session';
    }
    const parentKey = present.get(stat.ppid);
    if (parentKey && this.byKey.has(parentKey)) return 'ancestry';
    const key = memberKey(stat.pid, stat.starttime);
    let verdict = this.cookieVerdicts.get(key);
    if (verdict === undefined) {
      verdict = hasEnvEntry(stat.pid, this.options.cookie);
      this.cookieVerdicts.set(key, verdict);
    }
    return verdict ? 'cookie' : undefined;
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
    member.rssBytes = stat.rssPages * this.pageSize;
    member.peakRssBytes = Math.max(member.peakRssBytes, member.rssBytes);
    member.cpuTicks = stat.utimeTicks + stat.stimeTicks;
  }
}
