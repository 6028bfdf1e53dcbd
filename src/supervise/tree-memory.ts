/**
 * Memory of a tracked tree, for the limit decision and the context of kill events.
 */
import { pssOrFreshRssBytes } from '../proc/memory.js';
import type { TreeSnapshot } from '../track/tracker.js';

/** The sum of PSS over the alive members of a snapshot, bytes (reads smaps_rollup: dear). */
export function treePssBytes(snapshot: TreeSnapshot): number {
  return snapshot.alive.reduce((sum, member) => sum + pssOrFreshRssBytes(member.pid, member.starttime), 0);
}

/** The 20 largest alive members by RSS (bytes at the last scan), largest first. */
export function largestMembers(snapshot: TreeSnapshot | undefined): { pid: number; comm: string; rss_bytes: number }[] {
  return (snapshot?.alive ?? [])
    .slice()
    .sort((a, b) => b.rssBytes - a.rssBytes)
    .slice(0, 20)
    .map((member) => ({ pid: member.pid, comm: member.comm, rss_bytes: member.rssBytes }));
}
