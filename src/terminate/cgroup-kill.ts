/**
 * Freezing and killing a whole cgroup v2 subtree (cgroup.freeze: Linux 5.2; cgroup.kill: 5.14).
 * cgroup.kill SIGKILLs every process of the subtree in one kernel operation, so a fork racing the
 * kill cannot leave a child behind; a frozen cgroup cannot fork at all, which makes the scan taken
 * while frozen the exact list of who is killed. Refuses to act on a cgroup the wrapper itself is in.
 *
 * A write the kernel refuses is never passed over: only "the cgroup is already gone" is quiet; any
 * other errno (EACCES, EROFS, EBUSY, ...) is thrown as a CgroupWriteError, for the caller to report
 * and to do the same work process by process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { selfInsideCgroup } from '../proc/cgroup.js';
import { UnsafePidError } from './guard.js';

const FROZEN_POLL_MS = 5;
/** How long to wait for cgroup.events to say `frozen 1`, milliseconds. */
const FROZEN_WAIT_MS = 500;

/**
 * The errnos of a control-file write that mean the cgroup is gone: ENOENT (its directory was
 * removed, or the write met its removal: cgroup_kn_lock_live in kernel/cgroup/cgroup.c), ENODEV
 * (kernfs deactivated the file between our open and our write: kernfs_fop_write_iter), ESRCH.
 */
const GONE = new Set(['ENOENT', 'ENODEV', 'ESRCH']);

/** What a control-file write was for. */
export type CgroupOperation = 'freeze' | 'thaw' | 'kill';

/** A write to a cgroup control file that the kernel refused, for another reason than the cgroup being gone. */
export class CgroupWriteError extends Error {
  override name = 'CgroupWriteError';
  /**
   * @param path the control file, e.g. `/sys/fs/cgroup/scidex-run/<run-id>/cgroup.kill`
   * @param code the errno name (EACCES, EROFS, ...)
   */
  constructor(
    readonly operation: CgroupOperation,
    readonly path: string,
    readonly code: string,
  ) {
    super(`cannot ${operation} the cgroup: writing ${path} failed with ${code}`);
  }
}

/** @throws UnsafePidError when the wrapper is inside `path` (killing it would kill us). */
function assertOutside(path: string): void {
  if (selfInsideCgroup(path)) {
    throw new UnsafePidError(`refusing to freeze or kill ${path}: the wrapper is in it`);
  }
}

/**
 * Writes `value` to the control file `file` of the cgroup at `path`.
 * @returns false when the cgroup is gone
 * @throws CgroupWriteError for any other failure
 */
function writeControl(operation: CgroupOperation, path: string, file: string, value: string): boolean {
  const target = join(path, file);
  try {
    writeFileSync(target, value);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (GONE.has(code)) return false;
    throw new CgroupWriteError(operation, target, code);
  }
}

/**
 * Freezes the subtree and waits (at most `waitMs` milliseconds) until the kernel reports it frozen;
 * a task in uninterruptible sleep can delay that.
 * @returns whether the subtree was reported frozen (false also when the cgroup is gone)
 * @throws UnsafePidError when the wrapper is inside it; CgroupWriteError when cgroup.freeze cannot be written
 */
export async function freezeCgroup(path: string, waitMs = FROZEN_WAIT_MS): Promise<boolean> {
  assertOutside(path);
  if (!writeControl('freeze', path, 'cgroup.freeze', '1')) return false;
  const end = performance.now() + waitMs;
  for (;;) {
    try {
      if (/^frozen 1$/m.test(readFileSync(join(path, 'cgroup.events'), 'latin1'))) return true;
    } catch {
      return false;
    }
    if (performance.now() > end) return false;
    await sleep(FROZEN_POLL_MS);
  }
}

/**
 * Thaws the subtree; nothing when the cgroup is gone.
 * @throws CgroupWriteError when cgroup.freeze cannot be written
 */
export function thawCgroup(path: string): void {
  writeControl('thaw', path, 'cgroup.freeze', '0');
}

/**
 * SIGKILLs every process in the subtree.
 * @returns false when the cgroup is gone
 * @throws UnsafePidError when the wrapper is inside it; CgroupWriteError when cgroup.kill cannot be written
 */
export function killCgroup(path: string): boolean {
  assertOutside(path);
  return writeControl('kill', path, 'cgroup.kill', '1');
}
