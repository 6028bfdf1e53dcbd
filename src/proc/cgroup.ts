/**
 * cgroup facts, read-only. cgroup v2: where the unified hierarchy is mounted, which cgroup a process
 * is in, which processes a cgroup subtree holds, whether it is populated (Documentation/admin-guide/cgroup-v2.rst).
 * cgroup v1's memory controller, for the kernel memory backstop on hosts that still mount it there:
 * where it is mounted and which memory cgroup a process is in (Documentation/admin-guide/cgroup-v1/memory.rst).
 * And the kernel's OOM counters of a memory cgroup of either hierarchy.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One line of /proc/self/mountinfo, as proc(5) lays it out. */
interface MountInfo {
  /** Field 4: the root of the mount within its file system (for a cgroup mount, the cgroup it shows). */
  root: string;
  /** Field 5: the mount point. */
  mountPoint: string;
  /** The file system type, first after the ' - ' separator. */
  type: string;
  /** The super options, third after the separator (for cgroup v1, the controllers). */
  superOptions: string[];
}

/** The mounts of /proc/self/mountinfo (proc(5)), paths unescaped; none when it cannot be read. */
function mounts(): MountInfo[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((line) => {
    const separator = line.indexOf(' - ');
    if (separator < 0) return [];
    const fields = line.slice(0, separator).split(' ');
    const [type = '', , superOptions = ''] = line.slice(separator + 3).split(' ');
    return [{ root: unescapeMountPath(fields[3]), mountPoint: unescapeMountPath(fields[4]), type, superOptions: superOptions.split(',') }];
  });
}

/**
 * The mount point of the cgroup2 hierarchy, or undefined. A mount whose root is not '/' (inside a
 * container with a private cgroup namespace) still works.
 */
export function cgroup2MountPoint(): string | undefined {
  return mounts().find((mount) => mount.type === 'cgroup2')?.mountPoint;
}

/** A cgroup v1 hierarchy's mount: where it is, and which cgroup of the hierarchy its root is. */
export interface CgroupV1Mount {
  /** The mount point (mountinfo field 5). */
  mountPoint: string;
  /** The cgroup the mount shows at its mount point (field 4): '/', or a container's own cgroup without a cgroup namespace. */
  root: string;
}

/**
 * The mount of the cgroup v1 hierarchy that holds the memory controller: type `cgroup` (not
 * `cgroup2`) with `memory` among its super options, or undefined when none is mounted. Never an
 * assumed path: /sys/fs/cgroup/memory is only the usual one.
 */
export function cgroupV1MemoryMount(): CgroupV1Mount | undefined {
  const mount = mounts().find((candidate) => candidate.type === 'cgroup' && candidate.superOptions.includes('memory'));
  return mount && { mountPoint: mount.mountPoint, root: mount.root };
}

/**
 * The memory cgroup of a process in the cgroup v1 hierarchy (the `N:...memory...:PATH` line of
 * /proc/PID/cgroup), or undefined when it has none (a host with the memory controller on cgroup v2).
 */
export function memoryCgroupV1Of(pid: number | 'self'): string | undefined {
  try {
    for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
      const [id, controllers, ...path] = line.split(':');
      if (id !== '0' && controllers !== undefined && controllers.split(',').includes('memory')) return path.join(':');
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * The directory of cgroup `path` (as /proc/PID/cgroup gives it) under a v1 mount, or undefined when
 * the mount does not show it (a mount whose root is another cgroup than one of the path's ancestors).
 */
export function cgroupV1Dir(mount: CgroupV1Mount, path: string): string | undefined {
  if (mount.root === '/') return join(mount.mountPoint, path);
  if (path !== mount.root && !path.startsWith(mount.root + '/')) return undefined;
  return join(mount.mountPoint, path.slice(mount.root.length));
}

/** The kernel's OOM counters of one memory cgroup; a field is null where the kernel does not give it. */
export interface OomCounts {
  /** Processes of the cgroup the OOM killer killed: v2 memory.events(.local) `oom_kill`, v1 memory.oom_control `oom_kill` (Linux 4.13). */
  oomKill: number | null;
  /** v2: times the whole cgroup was killed at once (memory.oom.group; Linux 5.17); null on v1. */
  oomGroupKill: number | null;
  /** v1: times usage hit memory.limit_in_bytes (memory.failcnt), a hint only (reclaim may have sufficed); v2: memory.events `max`. */
  failcnt: number | null;
  /** The highest usage seen, bytes: v1 memory.max_usage_in_bytes, v2 memory.peak (Linux 5.19). */
  maxUsageBytes: number | null;
}

/** `name value` lines (memory.events, memory.oom_control) to a map. */
function keyedCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, value] = line.split(' ');
    if (name && value !== undefined && /^\d+$/.test(value)) counts.set(name, Number(value));
  }
  return counts;
}

function readNumber(path: string): number | null {
  try {
    const text = readFileSync(path, 'latin1').trim();
    return /^\d+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

/**
 * The OOM counters of the memory cgroup `dir`, or undefined when it has no memory controller (or is gone).
 * v2 reads memory.events.local where the kernel has it (5.2), so that an OOM kill inside a nested
 * run's cgroup counts for that run, not for every run around it.
 */
export function readOomCounts(dir: string, hierarchy: 'v1' | 'v2'): OomCounts | undefined {
  try {
    if (hierarchy === 'v1') {
      const control = keyedCounts(readFileSync(join(dir, 'memory.oom_control'), 'latin1'));
      return {
        oomKill: control.get('oom_kill') ?? null,
        oomGroupKill: null,
        failcnt: readNumber(join(dir, 'memory.failcnt')),
        maxUsageBytes: readNumber(join(dir, 'memory.max_usage_in_bytes')),
      };
    }
    let text: string;
    try {
      text = readFileSync(join(dir, 'memory.events.local'), 'latin1');
    } catch {
      text = readFileSync(join(dir, 'memory.events'), 'latin1');
    }
    const events = keyedCounts(text);
    return {
      oomKill: events.get('oom_kill') ?? null,
      oomGroupKill: events.get('oom_group_kill') ?? null,
      failcnt: events.get('max') ?? null,
      maxUsageBytes: readNumber(join(dir, 'memory.peak')),
    };
  } catch {
    return undefined;
  }
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The cgroup v2 path of a process (the `0::PATH` line of /proc/PID/cgroup), or undefined. */
export function cgroupOf(pid: number | 'self'): string | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('0::'));
    return line?.slice(3);
  } catch {
    return undefined;
  }
}

/** The PIDs in a cgroup directory and every cgroup below it; [] when it is gone. */
export function readCgroupProcs(dir: string): number[] {
  const pids: number[] = [];
  const walk = (path: string): void => {
    let entries;
    try {
      entries = readdirSync(path, { withFileTypes: true });
      for (const word of readFileSync(join(path, 'cgroup.procs'), 'latin1').split('\n')) if (word !== '') pids.push(Number(word));
    } catch {
      return;
    }
    for (const entry of entries) if (entry.isDirectory()) walk(join(path, entry.name));
  };
  walk(dir);
  return pids;
}

/** Whether any process is in the cgroup or below it (cgroup.events `populated`); false when it is gone. */
export function cgroupPopulated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(join(dir, 'cgroup.events'), 'latin1'));
  } catch {
    return false;
  }
}

/** Whether this process is in the cgroup `dir` (absolute path) or below it; true when that cannot be told. */
export function selfInsideCgroup(dir: string): boolean {
  const mount = cgroup2MountPoint();
  const own = cgroupOf('self');
  if (mount === undefined || own === undefined) return true;
  const path = join(mount, own);
  return path === dir || path.startsWith(dir + '/');
}
