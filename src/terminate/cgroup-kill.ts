/**
 * Freezing and killing a whole cgroup v2 subtree (cgroup.freeze: Linux 5.2; cgroup.kill: 5.14).
 * cgroup.kill SIGKILLs every process of the subtree in one kernel operation, so a fork racing the
 * kill cannot leave a child behind; a frozen cgroup cannot fork at all, which makes the scan taken
 * while frozen the exact list of who is killed. Refuses to act on a cgroup the wrapper itself is in.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { selfInsideCgroup } from '../proc/cgroup.js';
import { UnsafePidError } from './guard.js';

const FROZEN_POLL_MS = 5;
/** How long to wait for cgroup.events to say `frozen 1`, milliseconds. */
const FROZEN_WAIT_MS = 500;

/** @throws UnsafePidError when the wrapper is inside `path` (killing it would kill us). */
function assertOutside(path: string): void {
  if (selfInsideCgroup(path)) {
    throw new UnsafePidError(`refusing to freeze or kill ${path}: the wrapper is in it`);
  }
}

/**
 * Freezes the subtree and waits (at most `waitMs` milliseconds) until the kernel reports it frozen;
 * a task in uninterruptible sleep can delay that.
 * @returns whether the subtree was reported frozen
 * @throws UnsafePidError when the wrapper is inside it
 */
export async function freezeCgroup(path: string, waitMs = FROZEN_WAIT_MS): Promise<boolean> {
  assertOutside(path);
  try {
    writeFileSync(join(path, 'cgroup.freeze'), '1');
  } catch {
    return false;
  }
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

/** Thaws the subtree; never throws (the cgroup may be gone). */
export function thawCgroup(path: string): void {
  try {
    writeFileSync(join(path, 'cgroup.freeze'), '0');
  } catch {
    // gone or never frozen
  }
}

/**
 * SIGKILLs every process in the subtree.
 * @returns false when the cgroup is gone
 * @throws UnsafePidError when the wrapper is inside it
 */
export function killCgroup(path: string): boolean {
  assertOutside(path);
  try {
    writeFileSync(join(path, 'cgroup.kill'), '1');
    return true;
  } catch {
    return false;
  }
}
