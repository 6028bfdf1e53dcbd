/**
 * Making, entering and removing the run's cgroup v2.
 *
 * Where: `<mount><our cgroup>/scidex-run/<run-id>`, beneath the cgroup the wrapper was started in,
 * whoever runs it (root included). Inside a Slurm job, a Kubernetes pod or a systemd unit that
 * cgroup is the engine's: what it enforces (memory.max, pids.max, a freeze, a kill, its accounting)
 * must still cover the analysis, so the run never leaves it. A scidex-run inside another run nests
 * under the outer run's cgroup the same way, so the outer run still sees, freezes and kills the
 * inner tree. Creating a child cgroup does not move the processes of ours (the caller's shell may
 * share it), so the cgroup v2 rule of no processes in an inner cgroup with controllers is not at
 * stake; only the memory backstop needs a controller, and it is left out where ours has none to give.
 *
 * How the leader gets in: Node cannot run code between fork and exec, and clone3's
 * CLONE_INTO_CGROUP is out of reach, so the wrapper moves itself into the run's cgroup, spawns
 * (the child inherits the cgroup at fork) and moves itself back, all synchronously, before the
 * leader can fork anything. The probe does the same move in and out once, so a host where the
 * move back would fail never gets this backend (the wrapper must never stay in a cgroup it kills).
 *
 * The kernel backstop: where the memory controller can be enabled for the run's cgroup,
 * memory.max is set a little above the limit and memory.oom.group to 1, so an allocation burst
 * between two polls meets the kernel's OOM killer for the whole tree instead of the host's. Where
 * it cannot (the memory controller is on cgroup v1), memory-backstop.ts puts the run in a v1 memory
 * cgroup as well.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2MountPoint, cgroupOf, readOomCounts, type OomCounts } from '../proc/cgroup.js';

/** The kernel backstop sits this far above the limit: 1/16 of it, at least 64 MiB. */
const BACKSTOP_MIN_MARGIN_BYTES = 64 * 1024 * 1024;

/** The kernel backstop for a tree memory limit, bytes: the limit plus 1/16, at least 64 MiB. */
export function backstopBytes(limitBytes: number): number {
  return limitBytes + Math.max(Math.floor(limitBytes / 16), BACKSTOP_MIN_MARGIN_BYTES);
}

/** Why the cgroup backend cannot run here. */
export class CgroupUnavailableError extends Error {
  override name = 'CgroupUnavailableError';
}

/** A cgroup2 path is a run's when it is the mount, any cgroups, then `scidex-run/<run-id>`. */
export function isRunCgroupPath(path: string, runId: string): boolean {
  const mount = cgroup2MountPoint();
  if (!mount || !path.startsWith(mount + '/') || path.split('/').includes('..')) return false;
  return path.endsWith(`/scidex-run/${runId}`);
}

/**
 * A cgroup the leader is spawned into, of either hierarchy: the wrapper moves itself in, spawns and
 * moves back (module comment), so the leader and every descendant start in it.
 */
export abstract class SpawnCgroup {
  protected constructor(
    /** Absolute path of the cgroup directory. */
    readonly path: string,
    /** Where the wrapper lives: the cgroup.procs it moves back to. */
    protected readonly homeProcs: string,
  ) {}

  /** Moves the wrapper into the cgroup: only for the synchronous spawn of the leader. */
  enter(): void {
    writeFileSync(join(this.path, 'cgroup.procs'), String(process.pid));
  }

  /**
   * Moves the wrapper back home.
   * @throws Error when it cannot (never with `quiet`)
   */
  leave(quiet = false): void {
    try {
      writeFileSync(this.homeProcs, String(process.pid));
    } catch (error) {
      if (!quiet) throw error;
    }
  }

  /**
   * Proves the wrapper can move in and back out, once, at creation: a host where the move back
   * would fail must never have the wrapper spawn through it (it would stay in a cgroup it kills).
   * @throws CgroupUnavailableError with the reason, the cgroup removed
   */
  protected proveMove(): void {
    try {
      this.enter();
      this.leave();
    } catch (error) {
      this.leave(true);
      this.remove();
      throw new CgroupUnavailableError(`cannot move into ${this.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  /** Removes the cgroup (and any left below it by nested runs); only empty cgroups can go. Never throws. @returns whether it is gone */
  remove(): boolean {
    return removeCgroupTree(this.path);
  }
}

export class RunCgroup extends SpawnCgroup {
  /** The memory.max written, bytes; null when no memory controller could be enabled. */
  backstopBytes: number | null = null;

  /**
   * Creates the cgroup of run `runId` and proves the wrapper can move in and back out.
   * @throws CgroupUnavailableError with the reason, leaving nothing behind
   */
  static create(runId: string): RunCgroup {
    const mount = cgroup2MountPoint();
    if (!mount) throw new CgroupUnavailableError('no cgroup2 hierarchy is mounted');
    const own = cgroupOf('self');
    if (own === undefined) throw new CgroupUnavailableError('/proc/self/cgroup has no cgroup v2 entry');
    const ownDir = join(mount, own);
    const path = join(ownDir, 'scidex-run', runId);
    try {
      mkdirSync(path, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw new CgroupUnavailableError(`${path}: ${(error as NodeJS.ErrnoException).code}`);
    }
    const cgroup = new RunCgroup(path, join(ownDir, 'cgroup.procs'));
    if (!existsSync(join(path, 'cgroup.kill'))) {
      cgroup.remove();
      throw new CgroupUnavailableError('the kernel has no cgroup.kill (Linux 5.14 or later is needed)');
    }
    cgroup.proveMove();
    return cgroup;
  }

  /**
   * Creates the cgroup of adopted run `runId` beneath the cgroup `leaderCgroup` (relative to the
   * mount, as /proc/PID/cgroup says) of the process adopted: its tree stays inside whatever its
   * engine enforces there, as a spawned run's does. Nothing moves in yet (track/adopt-tree.ts).
   * @throws CgroupUnavailableError with the reason, leaving nothing behind
   */
  static createBeneath(runId: string, leaderCgroup: string): RunCgroup {
    const mount = cgroup2MountPoint();
    if (!mount) throw new CgroupUnavailableError('no cgroup2 hierarchy is mounted');
    const home = join(mount, leaderCgroup);
    const path = join(home, 'scidex-run', runId);
    try {
      mkdirSync(path, { recursive: true, mode: 0o755 });
    } catch (error) {
      throw new CgroupUnavailableError(`${path}: ${(error as NodeJS.ErrnoException).code}`);
    }
    const cgroup = new RunCgroup(path, join(home, 'cgroup.procs'));
    if (!existsSync(join(path, 'cgroup.kill'))) {
      cgroup.remove();
      throw new CgroupUnavailableError('the kernel has no cgroup.kill (Linux 5.14 or later is needed)');
    }
    return cgroup;
  }

  /** The cgroup.procs of the cgroup the run's processes came from (an adopted run's) or the wrapper lives in. */
  get home(): string {
    return this.homeProcs;
  }

  /**
   * Sets the kernel backstop for a tree memory limit; 0 means no limit. Failures leave no
   * backstop (a hierarchy without the memory controller, as on hosts with cgroup v1 memory).
   */
  setMemoryBackstop(limitBytes: number): void {
    if (limitBytes <= 0) return;
    const parent = join(this.path, '..');
    try {
      const controllers = readFileSync(join(parent, 'cgroup.controllers'), 'utf8').split(/\s+/);
      if (!controllers.includes('memory')) return;
      const enabled = readFileSync(join(parent, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
      if (!enabled.includes('memory')) writeFileSync(join(parent, 'cgroup.subtree_control'), '+memory');
      const bytes = backstopBytes(limitBytes);
      writeFileSync(join(this.path, 'memory.max'), String(bytes));
      writeFileSync(join(this.path, 'memory.oom.group'), '1');
      this.backstopBytes = bytes;
    } catch {
      this.backstopBytes = null;
    }
  }

  /**
   * Whether the memory controller is enabled for the run's cgroup, or can be: what the backstop
   * needs, asked without enabling it (--explain-tracking).
   */
  memoryControllerAvailable(): boolean {
    try {
      return readFileSync(join(this.path, '..', 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory');
    } catch {
      return false;
    }
  }

  /**
   * The kernel's OOM counters of the run's cgroup (memory.events.local), with or without a backstop
   * of ours: a job's or a unit's memory.max above it kills inside it too. Undefined where the cgroup
   * has no memory controller.
   */
  oomCounts(): OomCounts | undefined {
    return readOomCounts(this.path, 'v2');
  }
}

/** rmdir of a cgroup and the cgroups below it, deepest first; a populated one stays. */
export function removeCgroupTree(path: string): boolean {
  try {
    accessSync(path, constants.F_OK);
  } catch {
    return true;
  }
  try {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isDirectory()) removeCgroupTree(join(path, entry.name));
    }
    rmdirSync(path);
    return true;
  } catch {
    return false;
  }
}
