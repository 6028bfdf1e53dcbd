/**
 * Memory of a tracked tree, for the limit decision and the context of kill events.
 */
import { readPssBytes } from '../proc/memory.js';
import { isDead, readStat } from '../proc/stat.js';
import { pageSizeBytes } from '../proc/system.js';
import type { Member } from '../track/member.js';
import type { TreeSnapshot } from '../track/tracker.js';

/**
 * A member's PSS in bytes; where smaps_rollup has no PSS, its RSS re-read now. The re-read matters:
 * a process that exited since the scan has no memory left, and counting its stale RSS would add
 * every exiting worker's shared pages back to the sum.
 */
function pssOrFreshRss(member: Member): number {
  const pss = readPssBytes(member.pid);
  if (pss !== undefined) return pss;
  const stat = readStat(member.pid);
  if (!stat || stat.starttime !== member.starttime || isDead(stat)) return 0;
  return stat.rssPages * pageSizeBytes();
}

/** The sum of PSS over the alive members of a snapshot, bytes (reads smaps_rollup: dear). */
export function treePssBytes(snapshot: TreeSnapshot): number {
  return snapshot.alive.reduce((sum, member) => sum + pssOrFreshRss(member), 0);
}

/** The 20 largest alive members by RSS (bytes at the last scan), largest first. */
export function largestMembers(snapshot: TreeSnapshot | undefined): { pid: number; comm: string; rss_bytes: number }[] {
  return (snapshot?.alive ?? [])
    .slice()
    .sort((a, b) => b.rssBytes - a.rssBytes)
    .slice(0, 20)
    .map((member) => ({ pid: member.pid, comm: member.comm, rss_bytes: member.rssBytes }));
}
