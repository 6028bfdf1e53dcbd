/**
 * cgroup v2 facts, read-only: where the unified hierarchy is mounted, which cgroup a process is in,
 * which processes a cgroup subtree holds, whether it is populated (Documentation/admin-guide/cgroup-v2.rst).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The mount point of the cgroup2 hierarchy from /proc/self/mountinfo (proc(5): field 5 is the
 * mount point, field 4 the root of the mount, the type follows the ' - ' separator), or undefined.
 * A mount whose root is not '/' (inside a container with a private cgroup namespace) still works.
 */
export function cgroup2MountPoint(): string | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const separator = line.indexOf(' - ');
    if (separator < 0 || !line.slice(separator + 3).startsWith('cgroup2 ')) continue;
    return unescapeMountPath(line.slice(0, separator).split(' ')[4]);
  }
  return undefined;
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
