/**
 * The kernel memory backstop: a limit the kernel enforces a little above the run's memory limit, so
 * that an allocation burst between two scans meets the OOM killer inside the run, not the host's.
 * Our own decision stays the scan's (the tree's PSS against --memory-limit); the backstop only
 * catches what grows faster than any scan.
 *
 * Where the run's cgroup v2 has the memory controller, the backstop is its memory.max
 * (run-cgroup.ts, memory.oom.group = 1: the whole tree is killed at once). Many clusters still mount
 * the memory controller on cgroup v1, whatever tracks the tree; there the run also gets a cgroup in
 * the v1 memory hierarchy, `<v1 mount><wrapper's memory cgroup>/scidex-run/<run-id>` (named as the
 * v2 one, and beneath the wrapper's own memory cgroup, so that a job's or a unit's limit still covers
 * the run, and a nested run nests), with memory.limit_in_bytes (and memory.memsw.limit_in_bytes, where
 * swap is accounted, so the tree cannot swap past it) set to the backstop. The leader enters it at
 * the spawn as it enters the v2 cgroup (the wrapper moves in, spawns, moves back), and every
 * descendant inherits it at fork. The v1 memory cgroup is an extra: membership is still the
 * backend's (cgroup, subreaper or pgroup). v1's OOM killer kills one process, not the group, so after
 * a kernel OOM kill the supervisor's termination sequence ends the rest of the tree.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupV1Dir, cgroupV1MemoryMount, memoryCgroupV1Of, readOomCounts, type OomCounts } from '../proc/cgroup.js';
import { CgroupUnavailableError, SpawnCgroup } from './run-cgroup.js';

/** Where a run's kernel backstop is, as run_started records it. */
export interface MemoryBackstop {
  hierarchy: 'v1' | 'v2';
  /** The memory cgroup's directory, absolute. */
  cgroup: string;
  /** The limit the kernel enforces, bytes. */
  bytes: number;
}

/**
 * A path is a run's v1 memory cgroup when it is below the v1 memory mount, then any cgroups, then
 * `scidex-run/<run-id>`.
 */
export function isV1RunCgroupPath(path: string, runId: string): boolean {
  const mount = cgroupV1MemoryMount();
  if (!mount || !path.startsWith(mount.mountPoint + '/') || path.split('/').includes('..')) return false;
  return path.endsWith(`/scidex-run/${runId}`);
}

/** The directory of the wrapper's own memory cgroup in the v1 hierarchy, with the reason when there is none. */
export function ownV1MemoryDir(): { dir: string } | { why: string } {
  const mount = cgroupV1MemoryMount();
  if (!mount) return { why: 'no cgroup v1 memory hierarchy is mounted' };
  const own = memoryCgroupV1Of('self');
  if (own === undefined) return { why: '/proc/self/cgroup names no cgroup v1 memory cgroup' };
  const dir = cgroupV1Dir(mount, own);
  if (dir === undefined) return { why: `our memory cgroup ${own} is outside the v1 memory mount ${mount.mountPoint} (its root is ${mount.root})` };
  return { dir };
}

export class V1MemoryCgroup extends SpawnCgroup {
  readonly hierarchy = 'v1' as const;

  private constructor(
    path: string,
    homeProcs: string,
    /** memory.limit_in_bytes, bytes. */
    readonly bytes: number,
  ) {
    super(path, homeProcs);
  }

  /**
   * Creates the v1 memory cgroup of run `runId` with `bytes` as its limit, and proves the wrapper
   * can move in and back out.
   * @throws CgroupUnavailableError with the reason, leaving nothing behind
   */
  static create(runId: string, bytes: number): V1MemoryCgroup {
    const own = ownV1MemoryDir();
    if ('why' in own) throw new CgroupUnavailableError(own.why);
    const path = join(own.dir, 'scidex-run', runId);
    try {
      mkdirSync(path, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw new CgroupUnavailableError(`${path}: ${(error as NodeJS.ErrnoException).code}`);
    }
    const cgroup = new V1MemoryCgroup(path, join(own.dir, 'cgroup.procs'), bytes);
    try {
      writeFileSync(join(path, 'memory.limit_in_bytes'), String(bytes));
    } catch (error) {
      cgroup.remove();
      throw new CgroupUnavailableError(`cannot write ${join(path, 'memory.limit_in_bytes')}: ${(error as NodeJS.ErrnoException).code}`);
    }
    try {
      // Only where swap is accounted (the file exists); it must not be below memory.limit_in_bytes, which is set first.
      writeFileSync(join(path, 'memory.memsw.limit_in_bytes'), String(bytes), { flag: 'r+' });
    } catch {
      // No swap accounting: memory.limit_in_bytes alone.
    }
    cgroup.proveMove();
    return cgroup;
  }

  /** The kernel's OOM counters of the cgroup; undefined once it is gone. */
  oomCounts(): OomCounts | undefined {
    return readOomCounts(this.path, 'v1');
  }
}
