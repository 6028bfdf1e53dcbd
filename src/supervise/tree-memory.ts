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

/**
 * The `count` largest alive members by RSS (bytes at the scan), largest first; of equal RSS, the
 * first scanned. One pass keeping the `count` largest so far, not a sort of the whole tree: the tick
 * ring takes the top 5 at every scan (8-18 µs instead of 230 µs for 1000 processes, BENCHMARKS.md).
 */
export function largestMembers(snapshot: TreeSnapshot | undefined, count = 20): TopProcess[] {
  const largest: TreeSnapshot['alive'] = [];
  for (const member of snapshot?.alive ?? []) {
    if (largest.length === count && member.rssBytes <= (largest.at(-1)?.rssBytes ?? Infinity)) continue;
    let at = largest.length;
    while (at > 0 && largest[at - 1].rssBytes < member.rssBytes) at--;
    largest.splice(at, 0, member);
    if (largest.length > count) largest.pop();
  }
  return largest.map((member) => ({ pid: member.pid, comm: member.comm, rss_bytes: member.rssBytes }));
}
