/**
 * Who a process is beyond its pid and starttime: the user it runs as, and the files it holds open.
 * A marker file is only a claim; these are the kernel's word on the process it names.
 */
import { constants, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { listPids } from './list.js';
import { statusField } from './status.js';

/** The access-mode bits of open(2)'s flags (O_ACCMODE of <fcntl.h>; Node's fs.constants lacks it). */
const O_ACCMODE = 0o3;

/** The user ids of a process, from the `Uid:` line of /proc/PID/status (proc(5): real, effective, saved, filesystem). */
export interface ProcessUids {
  real: number;
  effective: number;
}

/**
 * The real and effective uid of `pid`.
 * @returns undefined when the process is gone or its status cannot be read
 */
export function processUids(pid: number): ProcessUids | undefined {
  const match = /^(\d+)\s+(\d+)/.exec(statusField(pid, 'Uid') ?? '');
  return match ? { real: Number(match[1]), effective: Number(match[2]) } : undefined;
}

/** A file by identity: st_dev and st_ino of stat(2). */
export interface FileIdentity {
  dev: number;
  ino: number;
}

/**
 * Whether `pid` holds `file` open for writing: one of /proc/PID/fd/N resolves (stat(2) follows the
 * magic link to the open file itself, whatever its path is now) to that device and inode, and the
 * file is open for writing (writable()).
 * @returns true or false; undefined when the process's descriptors cannot be read (it is gone, or
 *          it is another user's and we lack CAP_SYS_PTRACE: /proc/PID/fd needs ptrace read access)
 */
export function holdsOpenForWriting(pid: number, file: FileIdentity): boolean | undefined {
  const fds = descriptors(pid);
  if (fds === undefined) return undefined;
  return fds.some((fd) => {
    try {
      const open = statSync(`/proc/${pid}/fd/${fd}`);
      return open.dev === file.dev && open.ino === file.ino && writable(pid, fd);
    } catch {
      return false; // closed between the listing and the stat
    }
  });
}

/**
 * Whether any process we may inspect holds open for writing a file whose path (readlink(2) of
 * /proc/PID/fd/N) ends with `suffix`. A walk over every descriptor of the host: for rare checks only.
 * @param options.unreadableWrites count a process whose descriptors we may not read (EACCES: another
 *        user's, without CAP_SYS_PTRACE) as one that writes to it: for a caller that must be sure there is none
 */
export function anyProcessWritesTo(suffix: string, options: { unreadableWrites?: boolean } = {}): boolean {
  return listPids().some((pid) => {
    const fds = descriptors(pid);
    if (fds === undefined) return options.unreadableWrites === true && descriptorsDenied(pid);
    return writtenPaths(pid, fds, suffix).length > 0;
  });
}

/**
 * The paths of the files `pid` holds open for writing whose path (readlink(2) of /proc/PID/fd/N)
 * ends with `suffix`: where a live process really writes, whatever a record says it does. None when
 * its descriptors cannot be read (it is gone, or another user's and we lack CAP_SYS_PTRACE), or
 * when it holds more than `maxDescriptors`; a deleted file's path ends in ` (deleted)` (proc(5)),
 * so it is none either.
 */
export function pathsWrittenBy(pid: number, suffix: string, maxDescriptors: number): string[] {
  const fds = descriptors(pid) ?? [];
  return fds.length > maxDescriptors ? [] : writtenPaths(pid, fds, suffix);
}

function writtenPaths(pid: number, fds: readonly string[], suffix: string): string[] {
  return fds.flatMap((fd) => {
    try {
      const path = readlinkSync(`/proc/${pid}/fd/${fd}`);
      return path.endsWith(suffix) && writable(pid, fd) ? [path] : [];
    } catch {
      return [];
    }
  });
}

/** Whether /proc/PID/fd is refused to us (EACCES), as opposed to gone with its process. */
function descriptorsDenied(pid: number): boolean {
  try {
    readdirSync(`/proc/${pid}/fd`);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EACCES';
  }
}

function descriptors(pid: number): string[] | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
}

/** Whether descriptor `fd` of `pid` is open for writing: the access mode of `flags:` (octal) in /proc/PID/fdinfo/FD (proc(5)). */
function writable(pid: number, fd: string): boolean {
  try {
    const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1'))?.[1];
    return flags !== undefined && (parseInt(flags, 8) & O_ACCMODE) !== constants.O_RDONLY;
  } catch {
    return false;
  }
}
