/**
 * One round of the pressure guard (src/watchdog/pressure-stop.ts) in this process, with real
 * wrappers and real processes: what it measures and what it trusts. No host memory pressure is
 * needed: the candidate measurement and the round are called directly, with a crossing made up
 * by the test (the guard's trigger has unit tests of its own, test/unit/pressure.test.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { killSurvivors, ownedTag } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { measureCandidates } from '../../src/watchdog/pressure-stop.js';

const MiB = 1024 ** 2;
const tag = ownedTag();

afterAll(async () => {
  expect(await killSurvivors(tag)).toEqual([]);
});

/** A root run (--tracking pgroup: members by cookie) holding little memory until `release` exists. */
async function smallRootRun(release: string) {
  const stateDir = newStateDir();
  const script = 'import os, sys, time\nx = bytearray(8 << 20)\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.05)';
  const run = startWrapper(['--quiet', '--tracking', 'pgroup', '--analysis-id', 'guard-measure', '--', 'python3', '-c', script, release], { tag, stateDir });
  const record = await until(`the run to start (exit ${run.exitCode})`, () => {
    const record = journalSoFar(stateDir)?.runs.at(-1);
    return record?.pid && existsSync(join(stateDir, 'running', `${record.id}.json`)) ? record : undefined;
  }, 20_000, { every: 50 });
  return { run, stateDir, runId: record.id };
}

describe('what the guard measures', () => {
  it("counts only the marker owner's processes: another user's process carrying root's run's cookie is not the run's", async ({ skip }) => {
    if (process.getuid?.() !== 0) return skip('not running as root');
    if ((await execa('runuser', ['-u', 'nobody', '--', 'true'], { reject: false })).exitCode !== 0) return skip('runuser -u nobody does not work here');
    const release = join(newStateDir(), 'release');
    const { run, stateDir, runId } = await smallRootRun(release);
    // nobody's hog: 256 MiB touched, with root's run's cookie (run ids are public: the lifeline's argv).
    const hogScript = 'import sys, time\nx = bytearray(256 << 20)\nx[::4096] = b"\\x01" * ((256 << 20) // 4096)\nprint("ready", flush=True)\ntime.sleep(60)';
    const hog = execa('runuser', ['-u', 'nobody', '--', 'env', `SCIDEX_RUN_ID=${runId}`, `SCIDEX_TEST_TAG=${tag}`, 'python3', '-c', hogScript], { reject: false, stdin: 'ignore' });
    let out = '';
    let hogPid: number | undefined;
    hog.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await until(() => `nobody's hog to hold its memory (exit ${hog.exitCode})`, () => out.includes('ready'), 20_000, { every: 50 });
      // runuser forks the command: the hog is its child.
      hogPid = Number(readFileSync(`/proc/${hog.pid}/task/${hog.pid}/children`, 'utf8').trim().split(' ')[0]) || hog.pid!;
      expect(readFileSync(`/proc/${hogPid}/environ`, 'latin1')).toContain(`SCIDEX_RUN_ID=${runId}`);
      const candidate = measureCandidates(stateDir, new Map()).find((found) => found.marker.id === runId);
      expect(candidate).toBeDefined();
      // The run holds ~8 MiB and a python; the hog's 256 MiB would be counted without the owner check.
      expect(candidate!.pssBytes).toBeGreaterThan(0);
      expect(candidate!.pssBytes).toBeLessThan(128 * MiB);
    } finally {
      if (hogPid !== undefined && hogPid > 1 && hogPid !== hog.pid) process.kill(hogPid, 'SIGKILL');
      hog.kill('SIGKILL');
      await hog;
      await execa('touch', [release]);
      await run;
    }
  });
});
