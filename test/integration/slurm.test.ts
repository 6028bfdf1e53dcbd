/**
 * Inside a real single-node Slurm (test/helpers/slurm.ts: Debian's slurm-wlm and munge, private to
 * this file): a run in a batch job records the job, and the job's cancel ends the run as a cancel,
 * with nothing of it left running.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStat } from '../../src/proc/stat.js';
import { listMarkers } from '../../src/record/markers.js';
import { ownedTag } from '../helpers/processes.js';
import { slurmUnavailable, startSlurm, type Slurm } from '../helpers/slurm.js';
import { until } from '../helpers/until.js';
import { BIN, journalOf, newStateDir } from '../helpers/wrapper.js';

const tag = ownedTag();
const skip = slurmUnavailable();
let slurm: Slurm;

beforeAll(async () => {
  if (!skip) slurm = await startSlurm(5);
}, 60_000);

afterAll(async () => {
  await slurm?.stop();
}, 90_000);

/** Submits `script` as a batch job running in `dir` (with more sbatch `options`); returns the job id. */
async function sbatch(script: string, dir: string, options: string[] = []): Promise<string> {
  const { stdout } = await execa('sbatch', ['--parsable', ...options, '--chdir', dir, '--output', join(dir, 'job.out'), '--wrap', script], {
    env: { ...slurm.env, SCIDEX_TEST_TAG: tag, DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined },
  });
  return stdout.trim().split(';')[0];
}

/** The live processes a run's journal names (pid and starttime both still match). */
function liveProcesses(stateDir: string): number[] {
  return journalOf(stateDir)
    .processes.filter((process) => readStat(process.pid)?.starttime === process.starttime && readStat(process.pid)?.state !== 'Z')
    .map((process) => process.pid);
}

describe.skipIf(skip !== undefined)(`scidex-run in a Slurm batch job${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('records the job, and a scancel ends the run as cancelled (143) with nothing left running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-job-'));
    const stateDir = newStateDir();
    const job = await sbatch(`exec ${process.execPath} ${BIN} --state-dir ${stateDir} --grace 1s -- sleep 300`, dir);
    await until('the run to start', () => {
      try {
        return listMarkers(stateDir).length === 1 && journalOf(stateDir).events.some((event) => event.kind === 'run_started');
      } catch {
        return false; // no journal yet
      }
    }, 30_000);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ slurm_job_id: job });

    await execa('scancel', [job], { env: { ...process.env, ...slurm.env } });
    await until('the job to end', async () => /^(CANCELLED|COMPLETED|FAILED)/.test((await slurm.job(job))?.JobState ?? ''), 30_000);
    await until('the run to end', () => journalOf(stateDir).runs.at(-1)?.ended_at != null, 30_000);
    const run = journalOf(stateDir).runs.at(-1)!;
    expect(run, readFileSync(join(dir, 'job.out'), 'utf8')).toMatchObject({ status: 'cancelled', exit_status: 143, slurm_job_id: job });
    expect(liveProcesses(stateDir)).toEqual([]);
  });

  it("cuts a grace period longer than KillWait, so a tree deaf to SIGTERM is killed and recorded before Slurm's SIGKILL", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-job-'));
    const stateDir = newStateDir();
    const deaf = `sh -c 'trap "" TERM; exec sleep 300'`;
    const job = await sbatch(`exec ${process.execPath} ${BIN} --state-dir ${stateDir} --grace 30s -- ${deaf}`, dir);
    await until('the run to start', () => {
      try {
        return journalOf(stateDir).processes.length > 0 || journalOf(stateDir).events.some((event) => event.kind === 'run_started');
      } catch {
        return false; // no journal yet
      }
    }, 30_000);
    await execa('scancel', [job], { env: { ...process.env, ...slurm.env } });
    await until('the job to end', async () => /^(CANCELLED|COMPLETED|FAILED)/.test((await slurm.job(job))?.JobState ?? ''), 30_000);
    await until('the run to end', () => journalOf(stateDir).runs.at(-1)?.ended_at != null, 30_000);
    const output = readFileSync(join(dir, 'job.out'), 'utf8');
    expect(output).toContain(`grace period cut to ${slurm.killWaitS - 2}s: Slurm SIGKILLs the job ${slurm.killWaitS}s (KillWait) after its SIGTERM`);
    expect(journalOf(stateDir).runs.at(-1), output).toMatchObject({ status: 'cancelled', exit_status: 143, grace_ms: (slurm.killWaitS - 2) * 1000 });
    expect(liveProcesses(stateDir)).toEqual([]);
  });

  // Slurm's time limits are whole minutes, checked every half minute or so: this one takes 60-100 s.
  it("records Slurm's time limit as a timeout (124, reason slurm_time_limit), not as a cancel", { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-job-'));
    const stateDir = newStateDir();
    const job = await sbatch(`exec ${process.execPath} ${BIN} --state-dir ${stateDir} --grace 1s -- sleep 600`, dir, ['--time=1']);
    await until('the run to end', () => {
      try {
        return journalOf(stateDir).runs.at(-1)?.ended_at != null;
      } catch {
        return false; // no journal yet
      }
    }, 200_000);
    const output = readFileSync(join(dir, 'job.out'), 'utf8');
    expect(journalOf(stateDir).runs.at(-1), output).toMatchObject({ status: 'timeout', exit_status: 124, reason: 'slurm_time_limit', slurm_job_id: job });
    expect(output).toContain(`Slurm's time limit: job ${job} is out of time (SIGTERM from Slurm)`);
    expect(liveProcesses(stateDir)).toEqual([]);
  });

  it('says so when the command is srun: only the client is in the tree', async () => {
    const run = await execa(process.execPath, [BIN, '--state-dir', newStateDir(), '--', 'srun', 'true'], {
      reject: false,
      env: { ...slurm.env, SCIDEX_TEST_TAG: tag, DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined },
    });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toContain("scidex-run: warning: the command is srun: only its client process is in this run's tree");
    expect(run.stderr).toContain('run `srun scidex-run ...` instead');
  });
});
