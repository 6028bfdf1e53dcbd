import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownedTag } from '../helpers/processes.js';
import { EXAMPLES, journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();

describe('memory limit of the whole tree', () => {
  it('does not kill forked workers whose RSS sum exceeds the limit while their PSS sum does not', async () => {
    const stateDir = newStateDir();
    // 7 processes share one 300 MiB table: RSS sum ~2.1 GiB, PSS sum ~300 MiB, limit 1 GiB.
    const args = ['--quiet', '--memory-limit', '1GiB', '--', 'python3', join(EXAMPLES, 'shared_workers.py'), '300', '6', '3'];
    const result = await startWrapper(args, { tag, stateDir });
    expect(result.exitCode).toBe(0);
    const run = journalOf(stateDir).runs.at(-1)!;
    expect(run.status).toBe('completed');
    expect(run.peak_rss_bytes).toBeGreaterThan(1024 ** 3);
    expect(run.peak_pss_bytes).toBeLessThan(1024 ** 3);
  });

  it('kills a balloon whose PSS exceeds the limit, with exit status 137 and the memory in the kill event', async () => {
    const stateDir = newStateDir();
    // 8 MiB per step: the scan (100 ms near the limit) decides well before the kernel backstop, 64 MiB above
    // the limit where the memory controller allows one (test/integration/kernel-backstop.test.ts).
    const args = ['--quiet', '--memory-limit', '256MiB', '--grace', '2s', '--', 'python3', join(EXAMPLES, 'balloon.py'), '8', '4096'];
    const result = await startWrapper(args, { tag, stateDir });
    expect(result.exitCode).toBe(137);
    const { runs, events } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'out_of_memory', exit_status: 137, reason: 'memory' });
    const exceeded = events.find((event) => event.kind === 'limit_exceeded')!;
    expect(exceeded.reason).toBe('memory');
    expect(exceeded.pss_bytes).toBeGreaterThan(256 * 1024 ** 2);
    expect(exceeded.rss_bytes).toBeGreaterThan(256 * 1024 ** 2);
    const sent = events.find((event) => event.kind === 'signal_sent')!;
    expect(sent).toMatchObject({ reason: 'memory', signal: 'SIGTERM' });
    expect(sent.pids.length).toBeGreaterThan(0);
  });

  it('kills on a tree of many small processes that together exceed the limit', async () => {
    const stateDir = newStateDir();
    const args = ['--quiet', '--memory-limit', '300MiB', '--grace', '1s', '--', 'python3', '-c',
      'import subprocess, sys\n' +
        'ps = [subprocess.Popen([sys.executable, "-c", "import time; b = bytes([1]) * (80 << 20); time.sleep(300)"]) for _ in range(5)]\n' +
        '[p.wait() for p in ps]'];
    const result = await startWrapper(args, { tag, stateDir });
    expect(result.exitCode).toBe(137);
  });
});
