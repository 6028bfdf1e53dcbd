import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownedTag } from '../helpers/processes.js';
import { EXAMPLES, journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();

describe('the example analyses', () => {
  it('word frequencies over the standard library with a pool of workers', async () => {
    const stateDir = newStateDir();
    // The pool may live less than a second: scans at a fixed 50 ms see its workers whatever the load
    // (the adaptive default may be at 1 s by then, and a tracker only sees what lives at a scan).
    const result = await startWrapper(['--analysis-id', 'wordfreq', '--poll-interval', '50ms', '--', 'python3', join(EXAMPLES, 'wordfreq.py'), '5', '3'], {
      tag,
      stateDir,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^\d+ files, \d+ words/);
    expect(result.stderr).toMatch(/completed: exit status 0/);
    const { runs, processes } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'completed', analysis_id: 'wordfreq' });
    expect(processes.length).toBeGreaterThanOrEqual(4);
  });

  it('outlives its timeout and is killed with all its workers', async () => {
    const result = await startWrapper(['--quiet', '--timeout', '2s', '--grace', '1s', '--', 'python3', join(EXAMPLES, 'outlive_timeout.py')], { tag });
    expect(result.exitCode).toBe(124);
  });

  it('leaves a setsid helper behind, which is found and killed as an orphan', async () => {
    const stateDir = newStateDir();
    const result = await startWrapper(['--quiet', '--grace', '1s', '--', 'python3', join(EXAMPLES, 'leave_orphan.py')], { tag, stateDir });
    expect(result.exitCode).toBe(0);
    const { events } = journalOf(stateDir);
    expect(events.filter((event) => event.kind === 'orphan_found')).toHaveLength(1);
  });
});
