/**
 * Stale run cgroups: a run whose `--orphans ignore` processes exited later, or a wrapper and its
 * reaper that both died, leave an empty `scidex-run/<run-id>` cgroup behind. An empty one older
 * than a minute is no run's any more (a live run's cgroup holds its leader from the spawn on, a
 * few milliseconds after the cgroup is made), so it is removed. So are the runs' cgroups in the v1
 * memory hierarchy (the kernel backstop, memory-backstop.ts), which cgroup v1 tells empty by a
 * cgroup.procs that lists nobody, there or below (it has no cgroup.events).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2MountPoint, cgroupOf, cgroupPopulated, cgroupV1MemoryMount, readCgroupProcs } from '../proc/cgroup.js';
import { isRunId } from '../config/run-id.js';
import { ownV1MemoryDir } from './memory-backstop.js';
import { removeCgroupTree } from './run-cgroup.js';

/** Empty run cgroups younger than this are left alone, milliseconds. */
export const STALE_CGROUP_AGE_MS = 60_000;

/**
 * Removes the empty run cgroups older than `minAgeMs` under the places runs are made.
 * @returns the paths removed
 */
export function removeStaleCgroups(minAgeMs = STALE_CGROUP_AGE_MS): string[] {
  const removed: string[] = [];
  const mount = cgroup2MountPoint();
  if (mount) {
    const bases = [join(mount, 'scidex-run'), join(mount, cgroupOf('self') ?? '/', 'scidex-run')];
    removed.push(...removeStaleUnder(bases, minAgeMs, cgroupPopulated));
  }
  removed.push(...removeStaleV1Cgroups(minAgeMs));
  return removed;
}

/**
 * The v1 half of removeStaleCgroups: the runs' cgroups in the v1 memory hierarchy (the kernel
 * backstop), empty (no pid in cgroup.procs, there or below) and older than `minAgeMs`.
 * @returns the paths removed
 */
export function removeStaleV1Cgroups(minAgeMs = STALE_CGROUP_AGE_MS): string[] {
  const v1 = cgroupV1MemoryMount();
  if (!v1) return [];
  const own = ownV1MemoryDir();
  const bases = [join(v1.mountPoint, 'scidex-run'), ...('dir' in own ? [join(own.dir, 'scidex-run')] : [])];
  return removeStaleUnder(bases, minAgeMs, (path) => readCgroupProcs(path).length > 0);
}

/** Removes the empty run cgroups older than `minAgeMs` directly under `bases`. */
function removeStaleUnder(bases: string[], minAgeMs: number, populated: (path: string) => boolean): string[] {
  const removed: string[] = [];
  for (const base of new Set(bases)) {
    let names: string[];
    try {
      names = readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(base, name);
      if (!isRunId(name) || populated(path)) continue;
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
