/**
 * Memory of a tracked tree, for the limit decision and the context of kill events.
 */
import { pssOrFreshRssBytes } from '../proc/memory.js';
import type { TopProcess } from '../record/types.js';
import type { TreeSnapshot } from '../track/tracker.js';

/** The sum of PSS over the alive members of a snapshot, bytes (reads smaps_rollup: dear). */
export function treePssBytes(snapshot: TreeSnapshot): number {
  return snapshot.alive.reduce((sum, member) => sum + pssOrFreshRssBytes(member.pid, member.starttime), 0);
}

/** The `count` largest alive members by RSS (bytes at the scan), largest first. */
export function largestMembers(snapshot: TreeSnapshot | undefined, count = 20): TopProcess[] {
  return (snapshot?.alive ?? [])
    .slice()
    .sort((a, b) => b.rssBytes - a.rssBytes)
    .slice(0, count)
    .map((member) => ({ pid: member.pid, comm: member.comm, rss_bytes: member.rssBytes }));
}
