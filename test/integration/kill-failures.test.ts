/**
 * The kill path when the kernel refuses a step of it, the refusal made by the kernel itself
 * (test/helpers/refusals.ts):
 *   - a run cgroup whose cgroup.kill or cgroup.freeze cannot be written (EROFS): the file
 *     bind-mounted read-only in the wrapper's own mount namespace. Root passes over mode bits, so
 *     chmod 0444 would not stop it; a read-only mount stops root too.
 * The tree must still die promptly (well under the sequence's 30 s give-up), the refusal be said
 * (a kill_failed event with path and errno), the exit status be right, and
 * nothing survive.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catchesSignal } from '../../src/proc/signals.js';
import { availableBackends } from '../helpers/lost-runs.js';
import { ownedTag, tagged, waitForTagged } from '../helpers/processes.js';
import { mountReadOnly, noMountNamespace, OWN_MOUNT_NAMESPACE } from '../helpers/refusals.js';
import { until } from '../helpers/until.js';
import { journalOf, journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const backends = await availableBackends();

/** Well under the sequence's 30 s give-up: grace 1 s, then kills that must land at once. */
const PROMPT_MS = 10_000;

/** Four processes that ignore SIGTERM: only the SIGKILL phase ends them. */
const STUBBORN = 'trap "" TERM; sh -c "trap \\"\\" TERM; sleep 300" & sleep 300';

/** Starts the wrapper, waits until the `tree` processes of its command are up and it catches SIGTERM. */
async function started(args: string[], tree: number, options: { stateDir: string; via: string[] }) {
  const wrapper = startWrapper(args, { tag, ...options });
  await waitForTagged(tag, tree + 2); // and the wrapper and its lifeline
  await until('the wrapper to catch SIGTERM', () => catchesSignal(wrapper.pid!, 'SIGTERM'));
  return { wrapper }; // wrapped: an async function would wait for the wrapper's end, a promise itself
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
      const cancelledAt = performance.now();
      wrapper.kill('SIGTERM');
      const result = await wrapper;
      expect(performance.now() - cancelledAt).toBeLessThan(PROMPT_MS);
      expect(result.exitCode, result.stderr).toBe(143);
      expect(tagged(tag)).toEqual([]);
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
