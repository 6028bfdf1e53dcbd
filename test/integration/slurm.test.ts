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
import { catchesSignal } from '../../src/proc/signals.js';
import { readStat } from '../../src/proc/stat.js';
import { listMarkers } from '../../src/record/markers.js';
import { ownedTag } from '../helpers/processes.js';
import { slurmUnavailable, startSlurm, type Slurm } from '../helpers/slurm.js';
import { until } from '../helpers/until.js';
import { BIN, journalOf, journalSoFar, newStateDir } from '../helpers/wrapper.js';

const tag = ownedTag();
const skip = slurmUnavailable();
let slurm: Slurm;

beforeAll(async () => {
  if (!skip) slurm = await startSlurm(5);
  // munged's socket, then the node idle, each bounded at 60 s in startSlurm: daemons slow to start on a loaded host.
}, 180_000);

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

// Each test waits on Slurm's scheduling, a wrapper's start and the job's end in turn, each slow on a host
// loaded by the suite itself: more than the default 60 s together.
describe.skipIf(skip !== undefined)(`scidex-run in a Slurm batch job${skip ? ` (skipped: ${skip})` : ''}`, { timeout: 180_000 }, () => {
  it('records the job, and a scancel ends the run as cancelled (143) with nothing left running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-job-'));
    const stateDir = newStateDir();
    const job = await sbatch(`exec ${process.execPath} ${BIN} --state-dir ${stateDir} --grace 1s -- sleep 300`, dir);
    await until('the run to start', () => listMarkers(stateDir).length === 1 && journalSoFar(stateDir)?.events.some((event) => event.kind === 'run_started'), 60_000);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ slurm_job_id: job });

    await execa('scancel', [job], { env: { ...process.env, ...slurm.env } });
    await until('the job to end', async () => /^(CANCELLED|COMPLETED|FAILED)/.test((await slurm.job(job))?.JobState ?? ''), 60_000);
    expect((await slurm.job(job))?.JobState).toBe('CANCELLED');
    await until('the run to end', () => journalOf(stateDir).runs.at(-1)?.ended_at != null, 60_000);
    const run = journalOf(stateDir).runs.at(-1)!;
    expect(run, readFileSync(join(dir, 'job.out'), 'utf8')).toMatchObject({ status: 'cancelled', exit_status: 143, slurm_job_id: job });
    expect(liveProcesses(stateDir)).toEqual([]);
  });

  it("cuts a grace period longer than KillWait, so a tree deaf to SIGTERM is killed and recorded before Slurm's SIGKILL", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-job-'));
    const stateDir = newStateDir();
    const deaf = `sh -c 'trap "" TERM; exec sleep 300'`;
    const job = await sbatch(`exec ${process.execPath} ${BIN} --state-dir ${stateDir} --grace 30s -- ${deaf}`, dir);
    await until('the run to start', () => journalSoFar(stateDir)?.events.some((event) => event.kind === 'run_started'), 60_000);
    await execa('scancel', [job], { env: { ...process.env, ...slurm.env } });
    await until('the job to end', async () => /^(CANCELLED|COMPLETED|FAILED)/.test((await slurm.job(job))?.JobState ?? ''), 60_000);
    await until('the run to end', () => journalOf(stateDir).runs.at(-1)?.ended_at != null, 60_000);
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
    await until('the run to end', () => journalSoFar(stateDir)?.runs.at(-1)?.ended_at != null, 200_000);
    const output = readFileSync(join(dir, 'job.out'), 'utf8');
    expect(journalOf(stateDir).runs.at(-1), output).toMatchObject({ status: 'timeout', exit_status: 124, reason: 'slurm_time_limit', slurm_job_id: job });
    await until('the job to end', async () => /^(TIMEOUT|CANCELLED|COMPLETED|FAILED)$/.test((await slurm.job(job))?.JobState ?? ''), 60_000);
    expect(await slurm.job(job)).toMatchObject({ JobState: 'TIMEOUT', Reason: 'TimeLimit' });
    expect(output).toContain(`Slurm's time limit: job ${job} is out of time (SIGTERM from Slurm)`);
    expect(liveProcesses(stateDir)).toEqual([]);
  });

  it('ends a run at its own --timeout inside a job (124, the job failed with it), nothing left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-job-'));
    const stateDir = newStateDir();
    const job = await sbatch(`exec ${process.execPath} ${BIN} --state-dir ${stateDir} --timeout 1s --grace 1s -- sleep 300`, dir);
    const state = await until('the job to end', async () => {
      const fields = await slurm.job(job);
      return /^(COMPLETED|FAILED|CANCELLED)$/.test(fields?.JobState ?? '') ? fields : undefined;
    }, 60_000);
    expect(state).toMatchObject({ JobState: 'FAILED', ExitCode: '124:0' });
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'timeout', exit_status: 124, slurm_job_id: job });
    expect(liveProcesses(stateDir)).toEqual([]);
  });

  it("kills the orphan a job's command leaves, and the job completes", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-job-'));
    const stateDir = newStateDir();
    const job = await sbatch(`exec ${process.execPath} ${BIN} --state-dir ${stateDir} --grace 1s -- sh -c 'sleep 300 & exit 0'`, dir);
    const state = await until('the job to end', async () => {
      const fields = await slurm.job(job);
      return /^(COMPLETED|FAILED|CANCELLED)$/.test(fields?.JobState ?? '') ? fields : undefined;
    }, 60_000);
    expect(state).toMatchObject({ JobState: 'COMPLETED', ExitCode: '0:0' });
    const { runs, events } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'completed', exit_status: 0 });
    expect(events.some((event) => event.kind === 'orphan_found')).toBe(true);
    expect(liveProcesses(stateDir)).toEqual([]);
  });

  it('forwards the SIGUSR1 of scancel --signal=USR1 --batch to the tree without cancelling the run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-job-'));
    const stateDir = newStateDir();
    const flag = join(dir, 'usr1');
    const command = `trap "echo USR1 > ${flag}; exit 0" USR1; while :; do sleep 0.2; done`;
    const job = await sbatch(`exec ${process.execPath} ${BIN} --state-dir ${stateDir} -- sh -c '${command}'`, dir);
    const leader = await until('the run to start', () => journalSoFar(stateDir)?.runs.find((run) => run.pid !== null)?.pid ?? undefined, 60_000);
    // Signalled before their handlers are set, the wrapper or the command would die of SIGUSR1.
    const wrapperPid = journalOf(stateDir).runs.at(-1)!.wrapper_pid;
    await until('the wrapper and the command to catch SIGUSR1', () => catchesSignal(wrapperPid, 'SIGUSR1') && catchesSignal(leader, 'SIGUSR1'), 60_000);
    await execa('scancel', ['--signal=USR1', '--batch', job], { env: { ...process.env, ...slurm.env } });
    await until('the job to end', async () => /^(COMPLETED|FAILED|CANCELLED)$/.test((await slurm.job(job))?.JobState ?? ''), 60_000);
    expect((await slurm.job(job))?.JobState).toBe('COMPLETED');
    expect(readFileSync(flag, 'utf8').trim()).toBe('USR1');
    const { runs, events } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'completed', exit_status: 0 });
    expect(events.find((event) => event.kind === 'signal_forwarded')).toMatchObject({ signal: 'SIGUSR1' });
    expect(liveProcesses(stateDir)).toEqual([]);
  });

  it('runs as srun scidex-run: the step is the run, and the records name job and step', async () => {
    const stateDir = newStateDir();
    const run = await execa('srun', [process.execPath, BIN, '--quiet', '--state-dir', stateDir, '--', 'true'], {
      reject: false,
      env: { ...process.env, ...slurm.env, SCIDEX_TEST_TAG: tag, DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined },
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const record = journalOf(stateDir).runs.at(-1)!;
    expect(record).toMatchObject({ status: 'completed', exit_status: 0, slurm_step_id: '0' });
    expect(record.slurm_job_id).toMatch(/^\d+$/);
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
