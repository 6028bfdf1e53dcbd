/**
 * Stale run cgroups: a run whose `--orphans ignore` processes exited later, or a wrapper and its
 * reaper that both died, leave an empty `scidex-run/<run-id>` cgroup behind. An empty one older
 * than a minute is no run's any more (a live run's cgroup holds its leader from the spawn on, a
 * few milliseconds after the cgroup is made), so it is removed.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2MountPoint, cgroupOf, cgroupPopulated } from '../proc/cgroup.js';
import { isRunId } from '../config/run-id.js';
import { removeCgroupTree } from './run-cgroup.js';

/** Empty run cgroups younger than this are left alone, milliseconds. */
export const STALE_CGROUP_AGE_MS = 60_000;

/**
 * Removes the empty run cgroups older than `minAgeMs` under the places runs are made.
 * @returns the paths removed
 */
export function removeStaleCgroups(minAgeMs = STALE_CGROUP_AGE_MS): string[] {
  const mount = cgroup2MountPoint();
  const own = cgroupOf('self');
  if (!mount) return [];
  const bases = new Set([join(mount, 'scidex-run'), join(mount, own ?? '/', 'scidex-run')]);
  const removed: string[] = [];
  for (const base of bases) {
    let names: string[];
    try {
      names = readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(base, name);
      if (!isRunId(name) || cgroupPopulated(path)) continue;
      try {
        if (Date.now() - statSync(path).ctimeMs < minAgeMs) continue;
      } catch {
        continue;
      }
      if (removeCgroupTree(path)) removed.push(path);
    }
  }
  return removed;
}
