// Part 1: the cost of one tracking tick per backend, for trees of 1, 20 and 500 processes.
//
// A tick is `tracker.scan()`, timed back to back on a settled tree of sleepers, so only the scan is
// measured; each scan must see the whole tree, or the figure would be of a smaller one. "Cold" is a
// fresh tracker's first scan of the same tree, which admits every member and reads its cmdline.
// The 500-process tree is the kill part's first fan-out (kill.ts), so it is started only once.
import { openTracker } from '../../../src/track/select.js';
import type { TrackingBackend } from '../../../src/config/tracking.js';
import type { Tracker } from '../../../src/track/tracker.js';
import { log } from './context.js';
import { median, quantile } from './stats.js';
import { closeTree, openTree, waitComplete, type Tree } from './tree.js';
import { fanout } from './zoo.js';

export interface TickRow {
  backend: TrackingBackend;
  size: number;
  ticks: number;
  median: number;
  p95: number;
  cold: number;
}

/** Times `count` scans, each of the tracker `trackerFor` gives (its opening is not timed), in µs. */
function timeScans(count: number, expect: number, what: string, trackerFor: () => Tracker): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const tracker = trackerFor();
    const start = performance.now();
    const snapshot = tracker.scan();
    out.push((performance.now() - start) * 1000);
    if (snapshot.alive.length !== expect) throw new Error(`${what} saw ${snapshot.alive.length} members, expected ${expect}: ${membersText(snapshot.alive)}`);
  }
  return out;
}

function membersText(members: readonly { pid: number; ppid: number; argv: string[]; foundBy: string }[]): string {
  return members.slice(0, 8).map((m) => `${m.pid} (ppid ${m.ppid}, ${m.foundBy}) ${m.argv.join(' ')}`).join('; ');
}

/** `ticks` warm scans and `colds` cold first scans of a complete, settled tree of `size`. */
export function measureTicks(tree: Tree, size: number, ticks: number, colds: number): TickRow {
  const samples = timeScans(ticks, size, 'tick', () => tree.tracker);
  const cold = timeScans(colds, size, 'cold scan', () => openTracker(tree.setup, tree.facts));
  return { backend: tree.backend, size, ticks: samples.length, median: median(samples), p95: quantile(samples, 0.95), cold: median(cold) };
}

/** The 1- and 20-process rows of `backend`: 200 ticks and 10 cold scans each. */
export async function smallTreeTicks(backend: TrackingBackend): Promise<TickRow[]> {
  const rows: TickRow[] = [];
  for (const size of [1, 20]) {
    log(`${backend}: ticks, tree of ${size}`);
    const tree = await openTree(backend, fanout(size), `ticks-${size}`);
    try {
      await waitComplete(tree, size, 30_000);
      rows.push(measureTicks(tree, size, 200, 10));
    } finally {
      const left = await closeTree(tree);
      if (left.length > 0) log(`${backend}: ${left.length} survivors after the tick tree of ${size} (killed by pid)`);
    }
  }
  return rows;
}
