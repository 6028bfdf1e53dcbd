/**
 * The process groups of a run, signalled whole (kill(2) with -pgid). It is the one way to reach a
 * chain that forks and exits faster than a scan can follow it: each hop's child is born into its
 * parent's group, a signal to the group reaches every process in it at once, and a fork that a
 * group signal interrupts is restarted by the kernel after it, so no child is born past the signal
 * (fork(2), "signal_pending" in copy_process). Without a cgroup to freeze, SIGSTOP to the groups is
 * what closes such a chain; with one, the cgroup does it and this module is not used.
 *
 * A group is signalled only when every live process in it was just checked to be the run's: a live
 * member, a child of one, or a carrier of the run's cookie that runs as the run's user (anyone may
 * carry a run's cookie: a process of another user's in a group whose number a member once had is
 * not the run's); and never the wrapper's own group or a
 * group of the wrapper's session, where the terminal's other jobs live (docs/design.md §8). A
 * process that joins such a group between the check and the signal (setpgid(2), only from within
 * the same session, so only from a process of the run's own sessions) is the remaining window.
 */
import { hasEnvEntry } from '../proc/environ.js';
import { processUids } from '../proc/identity.js';
import { listPids } from '../proc/list.js';
import { processAliveWithMemory } from '../proc/liveness.js';
import { isDead, readStat } from '../proc/stat.js';
import { memberKey, type Member } from '../track/member.js';
import { groupInUse, signalGroup } from './guard.js';

export class RunGroups {
  private readonly own = readStat(process.pid);

  /**
   * @param cookie the run's environment entry, `SCIDEX_RUN_ID=<uuid>`
   * @param runUser the run's user (uid): a carrier of the cookie counts only when it runs as this
   *        user (real and effective uid); undefined only where nothing proves whose the run is
   */
  constructor(
    private readonly cookie: string,
    private readonly runUser: number | undefined,
  ) {}

  /** Per group, the zombies (`pid:starttime`) the last live() pass found in it. */
  private lastZombies = new Map<number, Set<string>>();

  /**
   * The groups to signal whole: the numbers any member used as its group or may lead one under (its
   * own pid, after setsid(2) or setpgid(0, 0)), still in use (kill(2) with signal 0 says so even when
   * no /proc pass catches a process of a hopping chain), in which one pass over /proc (newest first)
   * found no process that is not the run's.
   * @returns pgid -> live processes seen in it (at least 1: the group is in use)
   */
  ours(members: readonly Member[]): Map<number, number> {
    return this.pass(members, false);
  }

  /**
   * Whether any group of the run still holds a process that may run: as ours(), except that a group
   * in which two passes in a row found nothing but the same zombies is over. kill(2) counts a zombie
   * as in its group until its parent reaps it, and an init that reaps late (this project's CI VM's
   * reaps about once a second) would hold a settle window or a grace period to its end. A chain
   * that hops between forks is never stale: each pass finds a new zombie or a live hop.
   */
  live(members: readonly Member[]): boolean {
    return this.pass(members, true).size > 0;
  }

  private pass(members: readonly Member[], staleZombiesEnd: boolean): Map<number, number> {
    if (!this.own) return new Map();
    const candidates = new Set(members.flatMap((member) => [member.pgid, member.pid]).filter((pgid) => pgid > 1 && pgid !== this.own!.pgid));
    if (candidates.size === 0) return new Map();
    const alive = members.filter((member) => member.alive);
    const known = new Set(alive.map((member) => memberKey(member.pid, member.starttime)));
    const parents = new Set(alive.map((member) => member.pid));
    const seen = new Map<number, number>();
    const foreign = new Set<number>();
    const zombies = new Map<number, Set<string>>();
    for (const pid of listPids().reverse()) {
      const stat = readStat(pid);
      if (!stat || !candidates.has(stat.pgid)) continue;
      if (isDead(stat)) {
        zombies.set(stat.pgid, (zombies.get(stat.pgid) ?? new Set()).add(memberKey(pid, stat.starttime)));
        continue;
      }
      const ours =
        stat.sid !== this.own.sid && (known.has(memberKey(pid, stat.starttime)) || parents.has(stat.ppid) || this.carriesCookie(pid));
      if (ours) seen.set(stat.pgid, (seen.get(stat.pgid) ?? 0) + 1);
      // An environment unreadable or empty because its process is exiting says nothing of the group:
      // a chain that forks and exits is caught there often, and would veto its own group.
      else if (processAliveWithMemory(pid, stat.starttime)) foreign.add(stat.pgid);
    }
    const groups = new Map<number, number>();
    for (const pgid of candidates) {
      if (foreign.has(pgid)) continue;
      const dead = zombies.get(pgid);
      const stale = staleZombiesEnd && dead !== undefined && [...dead].every((key) => this.lastZombies.get(pgid)?.has(key));
      const count = seen.get(pgid) ?? (!stale && groupInUse(pgid) ? 1 : 0);
      if (count > 0) groups.set(pgid, count);
    }
    if (staleZombiesEnd) this.lastZombies = zombies;
    return groups;
  }

  /** Whether `pid` carries the run's cookie and runs as the run's user. */
  private carriesCookie(pid: number): boolean {
    if (!hasEnvEntry(pid, this.cookie)) return false;
    if (this.runUser === undefined) return true;
    const uids = processUids(pid);
    return uids !== undefined && uids.real === this.runUser && uids.effective === this.runUser;
  }

  /**
   * Sends `signal` to every group of ours(members).
   * @returns how many live processes those groups held when checked (at least one each)
   */
  signal(members: readonly Member[], signal: NodeJS.Signals): number {
    let reached = 0;
    for (const [pgid, count] of this.ours(members)) if (signalGroup(pgid, signal) === 'sent') reached += count;
    return reached;
  }
}
