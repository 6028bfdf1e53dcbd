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
 *     a scan saw them. Found by the cookie alone, a process counts only when it runs as the run's
 *     user (`cookieOwner`): run ids are public, and anyone may start a process carrying one.
 * Every scan reads /proc/PID/stat of every process started after the wrapper: the ppid field is the
 * parent's thread-group id, so a child forked from any thread is found without walking the per-thread
 * task/TID/children files. Processes older than the wrapper are skipped on their starttime alone.
 * Limit: a process that cleared its environment, then daemonized between two scans, escapes this
 * backend (the cgroup and subreaper backends catch it).
 *
 * PID reuse: the kernel keeps a PID number allocated while any process uses it as PGID or SID, so a
 * number is reused only after our group is empty. Once /proc/<leader> shows a different starttime,
 * or no process uses the number any more, group and session matches are switched off for good.
 * The reaper (`strict`) never matches by group: it cannot know whether the group ever emptied.
 */
import { hasEnvEntry } from '../proc/environ.js';
import { processUids } from '../proc/identity.js';
import { listPids } from '../proc/list.js';
import { readStat, type ProcStat } from '../proc/stat.js';
import { memberKey, type FoundBy } from './member.js';
import { MemberTable } from './member-table.js';
import type { Tracker, TreeSnapshot } from './tracker.js';

export interface PgroupTrackerOptions {
  /** The spawned process; also the PGID and SID of the run (it was started with setsid). */
  leaderPid: number;
  /**
   * The exact environment entry every process of the run inherits: `SCIDEX_RUN_ID=<uuid>`. None for
   * an adopted run: its processes were started without it, so nothing of it is matched by environment.
   */
  cookie?: string;
  /**
   * An adopted run's: its leader's starttime, known before the first scan (the leader is older than
   * us, and was identified through a pidfd), and whether the leader leads its process group and its
   * session. A group or session that the leader does not lead is not the run's (an application's, a
   * login's), so it is never matched; by default (a spawned leader, which called setsid) both are.
   */
  adopted?: { leaderStarttime: number; leadsGroup: boolean; leadsSession: boolean };
  /** `pid:starttime` keys of processes that are never members: the wrapper, its helpers. */
  excluded: ReadonlySet<string>;
  /** The wrapper's starttime (clock ticks): a process started before it cannot be ours. */
  minStarttime: number;
  /**
   * The reaper's mode, for a run whose wrapper is gone: only the cookie, and ppid ancestry from a
   * member that has it, make a member. Group and session need proof the group never emptied, and a
   * pid and starttime read from a file are no proof at all.
   */
  strict?: boolean;
  /**
   * Only processes running as this user (real and effective uid, /proc/PID/status) may be members:
   * root reaping a user's run signals nothing of anyone else's, whatever their environment says.
   */
  owner?: number;
  /**
   * The run's user (uid): a process found by the cookie alone, not by group, session or ancestry,
   * counts only when it runs as this user (real and effective uid, /proc/PID/status), root
   * included. Run ids are public (a lifeline's argv, a row), so anyone may start a process carrying
   * `cookie`; without this, another user's process would count in the run's memory, and be
   * signalled with it. A member that changes its uid later (a descendant dropping privileges)
   * stays one: members are never classified again (member-table.ts). Undefined: any user's, for a
   * run whose user nothing proves (a database row with no marker, watchdog/reap-database.ts).
   */
  cookieOwner?: number;
}

/** See the file comment. Construct it right after spawn, before yielding to the event loop. */
export class PgroupTracker implements Tracker {
  readonly backend = 'pgroup' as const;
  private readonly table = new MemberTable();
  private readonly cookieVerdicts = new Map<string, boolean>();
  private leaderStarttime: number | undefined;
  private groupReused: boolean;

  constructor(private readonly options: PgroupTrackerOptions) {
    this.groupReused = options.strict === true;
    this.leaderStarttime = options.adopted?.leaderStarttime;
  }

  scan(): TreeSnapshot {
    const stats: ProcStat[] = [];
    // Newest first: a process that forks and exits every few milliseconds is alive under the
    // highest pid of the listing, and read last it would be gone by then.
    for (const pid of listPids().reverse()) {
      const stat = readStat(pid);
      if (stat && stat.starttime >= this.options.minStarttime && !this.options.excluded.has(memberKey(pid, stat.starttime)) && this.ownedAsRequired(pid)) {
        stats.push(stat);
      }
    }
    const present = new Map(stats.map((stat) => [stat.pid, stat.starttime]));
    this.checkLeaderIdentity(present);
    const snapshot = this.table.apply(stats, (stat, isMember) => this.classify(stat, isMember));
    for (const key of this.cookieVerdicts.keys()) {
      const [pid, starttime] = key.split(':').map(Number);
      if (present.get(pid) !== starttime) this.cookieVerdicts.delete(key);
    }
    this.checkGroupReleased(present);
    return snapshot;
  }

  members() {
    return this.table.members();
  }

  private ownedAsRequired(pid: number): boolean {
    return this.runsAs(pid, this.options.owner);
  }

  /** Whether `pid` runs as `uid` (real and effective); true for no uid. */
  private runsAs(pid: number, uid: number | undefined): boolean {
    if (uid === undefined) return true;
    const uids = processUids(pid);
    return uids !== undefined && uids.real === uid && uids.effective === uid;
  }

  /**
   * Whether a process whose environment carries the cookie runs as `cookieOwner`. One gone since its
   * environment was read counts: nothing of it can be counted or signalled any more (a signal
   * re-checks the starttime), and its children keep it as their parent, so a chain that forks and
   * exits between the two reads stays found by ancestry (hopping-chain.test.ts lost one so).
   */
  private cookieCarrierCounts(pid: number): boolean {
    const uid = this.options.cookieOwner;
    if (uid === undefined) return true;
    const uids = processUids(pid);
    return uids === undefined || (uids.real === uid && uids.effective === uid);
  }

  release(): void {}

  private checkLeaderIdentity(present: Map<number, number>): void {
    const starttime = present.get(this.options.leaderPid);
    if (this.leaderStarttime === undefined) {
      // First scan, synchronously after spawn: the leader is alive or an unreaped zombie, so present.
      if (starttime !== undefined) this.leaderStarttime = starttime;
      else this.groupReused = true;
    } else if (starttime !== undefined && starttime !== this.leaderStarttime) {
      this.groupReused = true;
    }
  }

  /**
   * Once no process uses the leader's number as pid, PGID or SID, the kernel may hand the number
   * out again, and a newcomer that calls setsid would carry it: stop matching on it for good.
   */
  private checkGroupReleased(present: Map<number, number>): void {
    const leader = this.options.leaderPid;
    if (this.groupReused || present.has(leader)) return;
    const inUse = this.table.members().some((member) => member.alive && (member.pgid === leader || member.sid === leader));
    if (!inUse) this.groupReused = true;
  }

  private classify(stat: ProcStat, isMember: (pid: number) => boolean): FoundBy | undefined {
    const { leaderPid } = this.options;
    if (stat.pid === leaderPid && stat.starttime === this.leaderStarttime && !this.options.strict) return 'leader';
    if (!this.groupReused && this.leaderStarttime !== undefined && stat.starttime >= this.leaderStarttime) {
      if (stat.pgid === leaderPid && (this.options.adopted?.leadsGroup ?? true)) return 'group';
      if (stat.sid === leaderPid && (this.options.adopted?.leadsSession ?? true)) return 'session';
    }
    if (isMember(stat.ppid)) return 'ancestry';
    if (this.options.cookie === undefined) return undefined;
    const key = memberKey(stat.pid, stat.starttime);
    let verdict = this.cookieVerdicts.get(key);
    if (verdict === undefined) {
      verdict = hasEnvEntry(stat.pid, this.options.cookie);
      this.cookieVerdicts.set(key, verdict);
    }
    // The uid is read again at every scan, not kept with the verdict: a process may change it.
    return verdict && this.cookieCarrierCounts(stat.pid) ? 'cookie' : undefined;
  }
}
