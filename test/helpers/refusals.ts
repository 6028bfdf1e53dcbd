/**
 * Making the kernel itself refuse a step of the kill path to a wrapper, never a mock of it:
 *   - a file made read-only for the wrapper alone: bind-mounted read-only onto itself (writes then
 *     fail with EROFS, for root too, who passes over mode bits) in a mount namespace of the
 *     wrapper's own, started with `OWN_MOUNT_NAMESPACE` (unshare(1), which execs it: same pid). No
 *     other process on the host sees the mount, and it goes with the namespace.
 *   - a system call refused by a seccomp filter (test/fixtures/refuse-syscall.py), as a sandbox refuses one.
 */
import { fileURLToPath } from 'node:url';
import { execa, execaSync } from 'execa';
import { PYTHON } from './zoo.js';

/** The `via` that starts the wrapper in a mount namespace of its own, with mounts propagated nowhere. */
export const OWN_MOUNT_NAMESPACE = ['unshare', '--mount', '--propagation', 'private', '--'];

/** Why OWN_MOUNT_NAMESPACE cannot be used here (it needs CAP_SYS_ADMIN), or undefined when it can. */
export const noMountNamespace: string | undefined = (() => {
  const probe = execaSync('unshare', ['--mount', 'true'], { reject: false });
  return probe.exitCode === 0 ? undefined : `no mount namespace to be had (unshare --mount: ${probe.stderr || probe.exitCode})`;
})();

/**
 * Bind-mounts `path` read-only onto itself in the mount namespace of process `pid` (nsenter(1)).
 * @throws when mount fails
 */
export async function mountReadOnly(pid: number, path: string): Promise<void> {
  await execa('nsenter', ['--target', String(pid), '--mount', '--', 'mount', '--bind', '-o', 'ro', path, path]);
}

const REFUSE_SYSCALL = fileURLToPath(new URL('../fixtures/refuse-syscall.py', import.meta.url));

/** The `via` that runs the wrapper under a seccomp filter failing system call `number` with `errno` (EPERM, ...). */
export function refusingSyscall(number: number, errno: string): string[] {
  return [PYTHON, '-B', REFUSE_SYSCALL, String(number), errno];
}
