/**
 * The kill path when the kernel refuses a step of it, the refusal made by the kernel itself
 * (test/helpers/refusals.ts):
 *   - a run cgroup whose cgroup.kill or cgroup.freeze cannot be written (EROFS): the file
 *     bind-mounted read-only in the wrapper's own mount namespace. Root passes over mode bits, so
 *     chmod 0444 would not stop it; a read-only mount stops root too.
 *   - pidfd_send_signal(2) refused with EPERM by a seccomp filter, as a sandbox's policy refuses a call.
 * The tree must still die promptly (well under the sequence's 30 s give-up), the refusal be said
 * (a kill_failed event with path and errno; one warning line), the exit status be right, and
 * nothing survive.
 */
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { catchesSignal } from '../../src/proc/signals.js';
import { availableBackends } from '../helpers/lost-runs.js';
import { ownedTag, tagged, waitForTagged } from '../helpers/processes.js';
import { mountReadOnly, noMountNamespace, OWN_MOUNT_NAMESPACE, refusingSyscall } from '../helpers/refusals.js';
import { until } from '../helpers/until.js';
import { BIN, journalOf, journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const backends = await availableBackends();
const { pidfd } = JSON.parse((await execa(BIN, ['--explain-tracking', '--json'])).stdout) as { pidfd: boolean };
/** include/uapi/asm-generic/unistd.h: pidfd_send_signal, the same on x86_64 and aarch64. */
const SYS_PIDFD_SEND_SIGNAL = 424;

/**
 * Under the sequence's 30 s give-up (what a spin on a refused write would take): grace 1 s, then
 * kills that land at once, with room for a host the suite loads.
 */
const PROMPT_MS = 20_000;

/** Four processes that ignore SIGTERM: only the SIGKILL phase ends them. */
const STUBBORN = 'trap "" TERM; sh -c "trap \\"\\" TERM; sleep 300" & sleep 300';

/** Starts the wrapper, waits until the `tree` processes of its command are up and it catches SIGTERM. */
async function started(args: string[], tree: number, options: { stateDir: string; via: string[] }) {
  const wrapper = startWrapper(args, { tag, ...options });
  await waitForTagged(tag, tree + 2); // and the wrapper and its lifeline
  await until('the wrapper to catch SIGTERM', () => catchesSignal(wrapper.pid!, 'SIGTERM'));
  return { wrapper }; // wrapped: an async function would wait for the wrapper's end, a promise itself
}

/**
 * Cancels the run with SIGTERM to its wrapper, as a user or scheduler would, and checks it ended as
 * a cancel at once (no 30 s spin on a refused write) with nothing of the test left alive.
 * @returns the wrapper's result
 */
async function cancelledPromptly(wrapper: ReturnType<typeof startWrapper>) {
  const cancelledAt = performance.now();
  wrapper.kill('SIGTERM');
  const result = await wrapper;
  expect(performance.now() - cancelledAt).toBeLessThan(PROMPT_MS);
  expect(result.exitCode, result.stderr).toBe(143);
  expect(tagged(tag)).toEqual([]);
  return result;
}

const cgroupSkip = backends.includes('cgroup') ? noMountNamespace : 'no cgroup backend on this host';

describe(`a run cgroup whose control files the kernel refuses to write${cgroupSkip ? ` (skipped: ${cgroupSkip})` : ''}`, () => {
  it.skipIf(cgroupSkip !== undefined).each([[['cgroup.kill']], [['cgroup.freeze']], [['cgroup.freeze', 'cgroup.kill']]])(
    '%j read-only: kill_failed with EROFS, and the members stopped or killed one by one at once',
    async (files) => {
      const stateDir = newStateDir();
      const args = ['--quiet', '--tracking', 'cgroup', '--grace', '1s', '--', 'sh', '-c', STUBBORN];
      const { wrapper } = await started(args, 4, { stateDir, via: OWN_MOUNT_NAMESPACE });
      const cgroup = await until('the run cgroup', () => journalSoFar(stateDir)?.runs.find((run) => run.cgroup_path)?.cgroup_path ?? undefined);
      for (const file of files) await mountReadOnly(wrapper.pid!, `${cgroup}/${file}`);
      await cancelledPromptly(wrapper);
      expect(existsSync(cgroup)).toBe(false);

      const { runs, events, processes } = journalOf(stateDir);
      expect(runs.at(-1)).toMatchObject({ status: 'cancelled', exit_status: 143 });
      const failures = events.filter((event) => event.kind === 'kill_failed');
      const operation = (file: string) => (file === 'cgroup.kill' ? 'kill' : 'freeze');
      expect(failures.map((event) => event.detail)).toEqual(
        files.map((file) => expect.objectContaining({ operation: operation(file), path: `${cgroup}/${file}`, errno: 'EROFS' })),
      );
      expect(failures.every((event) => event.reason === 'cancelled')).toBe(true);
      expect(events.some((event) => event.kind === 'signal_sent' && event.signal === 'SIGKILL')).toBe(true);
      expect(processes.length).toBeGreaterThanOrEqual(4);
      expect(processes.filter((process) => process.fate !== 'killed')).toEqual([]);
    },
  );
});

const pidfdSkip = !pidfd
  ? 'signals do not go through pidfds on this host (scidex-run --explain-tracking)'
  : !backends.includes('cgroup')
    ? 'no cgroup backend: without one, group signals would deliver what the pidfd fallback must'
    : undefined;

describe(`pidfd_send_signal refused by a seccomp filter${pidfdSkip ? ` (skipped: ${pidfdSkip})` : ''}`, () => {
  it.skipIf(pidfdSkip !== undefined)('every signal still goes, by kill(2), and the refusal is said once', async () => {
    const stateDir = newStateDir();
    // With a cgroup, the first signal goes to the members one by one and to nothing else: their
    // termination is the fallback's doing alone.
    const args = ['--tracking', 'cgroup', '--grace', '5s', '--', 'sh', '-c', 'sleep 300 & sleep 300 & wait'];
    const { wrapper } = await started(args, 3, { stateDir, via: refusingSyscall(SYS_PIDFD_SEND_SIGNAL, 'EPERM') });
    const result = await cancelledPromptly(wrapper);
    const warnings = result.stderr.split('\n').filter((line) => line.includes('pidfd'));
    expect(warnings).toEqual([expect.stringMatching(/^scidex-run: warning: pidfd_send_signal: EPERM: .*kill\(2\)/)]);

    const { events, processes } = journalOf(stateDir);
    const sent = events.filter((event) => event.kind === 'signal_sent');
    expect(sent.map((event) => event.signal)).toEqual(['SIGTERM']);
    expect(sent[0].pids).toHaveLength(3);
    expect(processes.filter((process) => process.fate !== 'terminated')).toEqual([]);
  });
});
