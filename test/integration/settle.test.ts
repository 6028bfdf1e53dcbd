/**
 * Orphans are what stays, not what is leaving: after the leader exits, a process that exits by
 * itself within the settle window (--orphan-settle) is recorded as exited, never killed; what is
 * left after it is an orphan. A grace period ends as soon as the tree is empty, on every backend
 * (a subreaper reaps the orphans it adopted inside the grace loop). A run too short for any scan
 * still records its tree once.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStat } from '../../src/proc/stat.js';
import { availableBackends } from '../helpers/lost-runs.js';
import { until } from '../helpers/until.js';
import { killSurvivors, ownedTag, tagged } from '../helpers/processes.js';
import { journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const backends = await availableBackends();

/** The leader forks a helper that outlives it by `ms` milliseconds, then exits 0 at once. */
const helperOutlivesLeaderBy = (ms: number) =>
  `import os, time\nif os.fork() == 0:\n    time.sleep(${ms / 1000})\n    os._exit(0)\nos._exit(0)`;

const KILL_EVENTS = ['orphan_found', 'signal_sent', 'process_killed'];

describe('the settle window after the leader exits', () => {
  for (const backend of backends) {
    it(`${backend}: a helper that leaves 50 ms after the leader is recorded as exited, not killed`, async () => {
      const stateDir = newStateDir();
      const run = await startWrapper(['--quiet', '--tracking', backend, '--', 'python3', '-c', helperOutlivesLeaderBy(50)], { tag, stateDir });
      expect(run.exitCode, run.stderr).toBe(0);
      const { events, processes } = journalOf(stateDir);
      expect(events.filter((event) => KILL_EVENTS.includes(event.kind))).toEqual([]);
      expect(processes.map((process) => process.fate)).not.toContain('terminated');
      expect(processes.map((process) => process.fate)).not.toContain('killed');
    });

    it(`${backend}: with --orphan-settle 0 the same helper is an orphan, and the grace period ends when it exits`, async () => {
      const stateDir = newStateDir();
      const run = await startWrapper(
        ['--quiet', '--tracking', backend, '--orphan-settle', '0', '--grace', '30s', '--', 'python3', '-c', helperOutlivesLeaderBy(60_000)],
        { tag, stateDir },
      );
      expect(run.exitCode, run.stderr).toBe(0);
      const { runs, events, processes } = journalOf(stateDir);
      expect(events.map((event) => event.kind)).toContain('orphan_found');
      expect(processes.map((process) => process.fate)).toContain('terminated');
      // SIGTERM ends the helper at once: a run that waited out its 30 s grace period never emptied. The
      // bound is the grace period itself, from the SIGTERM, on the run's own clock (a run that waited
      // it out cannot be shorter): not a speed target, which a host loaded by the suite would miss.
      const final = runs.at(-1)!;
      const term = events.find((event) => event.kind === 'signal_sent' && event.signal === 'SIGTERM')!;
      expect(Date.parse(final.ended_at!) - Date.parse(term.at)).toBeLessThan(30_000);
    });
  }
});

describe('inside the settle window', () => {
  it('the memory limit still holds: a helper that balloons after the leader exits is killed for it', async () => {
    const stateDir = newStateDir();
    const balloon = `import os, time\nif os.fork() == 0:\n    time.sleep(0.05)\n    x = b'a' * (400 << 20)\n    time.sleep(30)\n    os._exit(0)\nos._exit(0)`;
    const run = await startWrapper(['--quiet', '--tracking', backends[0], '--memory-limit', '100MiB', '--grace', '1s', '--', 'python3', '-c', balloon], { tag, stateDir });
    expect(run.exitCode, run.stderr).toBe(137);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'out_of_memory' });
  });

  it('under --orphans ignore, a cancel only cuts the window short: the command\'s status stands, what it left runs on', async () => {
    const stateDir = newStateDir();
    const started = join(stateDir, 'started');
    const run = startWrapper(
      ['--orphans', 'ignore', '--orphan-settle', '30s', '--tracking', backends[0], '--', 'sh', '-c', 'sleep 300 >/dev/null 2>&1 & : > "$1"; exit 0', 'sh', started],
      { tag, stateDir },
    );
    await until('the command to start', () => existsSync(started), 60_000);
    // The leader is gone (reaped by the wrapper) once /proc no longer has it: the window is open.
    const leader = () => journalOf(stateDir).runs[0]?.pid;
    await until('the leader to be gone', () => leader() !== undefined && leader() !== null && readStat(leader()!) === undefined, 60_000, { every: 100 });
    process.kill(run.pid!, 'SIGINT');
    const result = await run;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('leaving what it left (--orphans ignore)');
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'completed', exit_status: 0 });
    expect(tagged(tag)).toHaveLength(1);
    // The test, not the product, cleans up here: by pid, after checking the tag.
    expect(await killSurvivors(tag)).toHaveLength(1);
  });
});

describe('a run too short for any scan', () => {
  it('records its tree once at the end: one sample, one process at once', async () => {
    const stateDir = newStateDir();
    const run = await startWrapper(['--tracking', backends[0], '--', 'true'], { tag, stateDir });
    expect(run.exitCode, run.stderr).toBe(0);
    const { runs, samples } = journalOf(stateDir);
    expect(samples).toHaveLength(1);
    expect(samples[0]).toMatchObject({ process_count: 1, peak: true });
    expect(runs.at(-1)).toMatchObject({ status: 'completed', peak_process_count: 1, process_count: 1 });
    expect(run.stderr).toMatch(/1 process at once/);
  });
});
