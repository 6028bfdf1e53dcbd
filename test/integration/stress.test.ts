/**
 * The short form of `npm run stress` (scripts/stress/): 60 runs of the real bin/scidex-run against a
 * throwaway PostgreSQL with max_connections = 20, with server stops and crashes, wrapper SIGKILLs,
 * concurrent ship, reap and serve, and (as root) a full state directory, then every invariant
 * checked: each journal line in PostgreSQL once, every run final, no survivor, no sentinel
 * signalled, every journal marked shipped. About a minute on two cores. The seed is in the summary:
 * `npm run stress -- --seed N --runs 60 ...` replays the same plan.
 */
import { describe, expect, it } from 'vitest';
import { stressOptions } from '../../scripts/stress/options.js';
import { formatReport } from '../../scripts/stress/report.js';
import { runStress } from '../../scripts/stress/stress.js';
import { ownedTag, tagged } from '../helpers/processes.js';

const tag = ownedTag();

describe('stress, short form', () => {
  it('60 runs under faults keep every record, end every run, leave nothing behind, signal no sentinel', async () => {
    const progress: string[] = [];
    const options = stressOptions({
      runs: 60, concurrency: 24, durationMs: 15_000, faultGapMs: 1000, sentinels: 2, hangMs: 90_000, settleMs: 60_000,
      tag, log: (line) => void progress.push(line),
    });
    const result = await runStress(options).catch((error: unknown) => {
      console.info(progress.join('\n'));
      throw error;
    });
    console.info(formatReport(result));
    expect(result.runs.planned).toBe(60);
    // Faults were injected, of every kind that can be here (disk-fill only as root).
    expect(result.faults['server-stop'].injected + result.faults['server-crash'].injected).toBeGreaterThan(0);
    expect(result.faults['wrapper-kill'].injected).toBeGreaterThan(0);
    expect(result.journalLines.files).toBeGreaterThan(0);
    expect(result.violations).toEqual([]);
    expect(result.survivors).toBe(0);
    expect(tagged(tag)).toEqual([]);
  }, 300_000);
});
