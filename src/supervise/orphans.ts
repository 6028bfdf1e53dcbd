/**
 * What the leader left: when the tree is over, and how to see a tree that hops faster than a scan.
 * Empty means no live member and, with a cgroup, a cgroup the kernel says is unpopulated; without
 * one, no process group of the run in use (docs/design.md §5).
 */
import type { OrphanPolicy } from '../config/run-config.js';
import { cgroupPopulated } from '../proc/cgroup.js';
import { redactArgv } from '../record/redact.js';
import type { RunLog } from '../record/run-log.js';
import { CgroupWriteError, freezeCgroup, thawCgroup } from '../terminate/cgroup-kill.js';
import { RunGroups } from '../terminate/run-groups.js';
import type { Tracker, TreeSnapshot } from '../track/tracker.js';

/**
 * Without a cgroup, how long the tree must look over, scan after scan, before it is, milliseconds.
 * A chain that forks and exits faster than a scan is missed by some scans (its newest hop gone
 * between the listing and the read, more often on a loaded host), not by every scan of this span;
 * when one empty scan ended the settle window, hopping-chain.test.ts (pgroup) lost its chain under
 * load. Only a cgroup's population is the kernel's word at once.
 */
export const GROUPS_OVER_CONFIRM_MS = 50;

/** How the run's end is watched: through its cgroup, or, without one, through its process groups. */
export class TreeEnd {
  private readonly groups: RunGroups | undefined;
  /** When the scans without a cgroup began to find the tree over (snapshot time, epoch ms); undefined while it is not. */
  private overSinceMs: number | undefined;

  /**
   * @param cookie the run's environment entry, `SCIDEX_RUN_ID=<uuid>`
   * @param runUser the run's user (uid): another user's process carrying the cookie is not the run's
   */
  constructor(
    private readonly tracker: Tracker,
    private readonly cookie: string,
    private readonly runUser: number | undefined,
  ) {
    this.groups = tracker.cgroupPath ? undefined : new RunGroups(cookie, runUser);
  }

  /**
   * Whether the tree is over after `snapshot`: with a cgroup, when it is unpopulated; without one,
   * when no member is alive and no run group in use, in every scan for GROUPS_OVER_CONFIRM_MS (one
   * /proc pass more per call). Call it with every scan of the window.
   */
  over(snapshot: TreeSnapshot): boolean {
    const cgroup = this.tracker.cgroupPath;
    if (cgroup) return snapshot.alive.length === 0 && !cgroupPopulated(cgroup);
    if (snapshot.alive.length > 0 || this.groups!.live(this.tracker.members())) {
      this.overSinceMs = undefined;
      return false;
    }
    this.overSinceMs ??= snapshot.atMs;
    return snapshot.atMs - this.overSinceMs >= GROUPS_OVER_CONFIRM_MS;
  }

  /**
   * A scan that sees what a plain scan can miss: when only the kernel (a populated cgroup) or the
   * run's groups say the tree is not over, a chain forks and exits faster than a scan, whose listed
   * pid was gone by the time its stat was read. Held still (the cgroup frozen, or the groups stopped
   * whole), it stands where the next scan finds it. A frozen cgroup is thawed at once, so that a
   * SIGTERM finds its processes able to act on it; stopped groups stay stopped until `resume()`
   * (the termination sequence's SIGCONT resumes them after its first signal). A cgroup.freeze the
   * kernel refuses is given to `onRefused` (a kill_failed record), and the run's groups are stopped
   * instead.
   */
  async heldScan(snapshot: TreeSnapshot, onRefused: (error: CgroupWriteError) => void): Promise<{ snapshot: TreeSnapshot; resume: () => void }> {
    const none = { snapshot, resume: () => undefined };
    if (snapshot.alive.length > 0) return none;
    const cgroup = this.tracker.cgroupPath;
    if (cgroup) {
      try {
        // cgroup.freeze written first with what it holds (0): a file that refuses the thaw is never
        // frozen, or orphans left to run (--orphans ignore, wait) would stay frozen for good. Its
        // refusal is the freeze's: that is what is not done.
        try {
          thawCgroup(cgroup);
        } catch (error) {
          throw error instanceof CgroupWriteError ? new CgroupWriteError('freeze', error.path, error.code) : error;
        }
        const held = (await freezeCgroup(cgroup)) ? this.tracker.scan() : snapshot;
        thawCgroup(cgroup);
        return { snapshot: held, resume: () => undefined };
      } catch (error) {
        if (!(error instanceof CgroupWriteError)) throw error;
        onRefused(error);
      }
    }
    const groups = this.groups ?? new RunGroups(this.cookie, this.runUser);
    if (groups.signal(this.tracker.members(), 'SIGSTOP') === 0) return none;
    return { snapshot: this.tracker.scan(), resume: () => void groups.signal(this.tracker.members(), 'SIGCONT') };
  }
}

/** Journals one `orphan_found` per live member of `snapshot`; returns the one-line account of them ("2 processes", "pids 4, 5"). */
export function recordOrphansFound(log: RunLog, snapshot: TreeSnapshot, policy: OrphanPolicy): { count: string; pids: string } {
  for (const orphan of snapshot.alive) {
    log.event('orphan_found', {
      reason: 'orphans',
      pid: orphan.pid,
      process_rss_bytes: orphan.rssBytes,
      rss_bytes: snapshot.rssBytes,
      detail: { argv: redactArgv(orphan.argv), found_by: orphan.foundBy, policy },
    });
  }
  return {
    count: `${snapshot.alive.length} process${snapshot.alive.length === 1 ? '' : 'es'}`,
    pids: `pids ${snapshot.alive.map((member) => member.pid).join(', ')}`,
  };
}
