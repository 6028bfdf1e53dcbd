import { describe, expect, it } from 'vitest';
import { endedForTimeLimit, graceUnderKillWait, slurmJob, slurmKillWaitMs } from '../../src/config/slurm.js';

describe('the Slurm job of the environment', () => {
  it('takes the job and step ids Slurm sets, and nothing that is not one', () => {
    expect(slurmJob({ SLURM_JOB_ID: '42', SLURM_STEP_ID: '0' })).toEqual({ slurm_job_id: '42', slurm_step_id: '0' });
    expect(slurmJob({ SLURM_JOB_ID: '42', SLURM_STEP_ID: 'batch' })).toEqual({ slurm_job_id: '42', slurm_step_id: 'batch' });
    expect(slurmJob({ SLURM_JOB_ID: '42' })).toEqual({ slurm_job_id: '42', slurm_step_id: null });
    expect(slurmJob({})).toEqual({ slurm_job_id: null, slurm_step_id: null });
    expect(slurmJob({ SLURM_JOB_ID: '42; drop', SLURM_STEP_ID: '0' })).toEqual({ slurm_job_id: null, slurm_step_id: null });
    expect(slurmJob({ SLURM_JOB_ID: '42', SLURM_STEP_ID: '\u001b[31m' })).toEqual({ slurm_job_id: '42', slurm_step_id: null });
  });
});

describe('the grace period under KillWait', () => {
  it("reads KillWait from scontrol show config, and gives up quietly when it cannot", () => {
    expect(slurmKillWaitMs(() => 'JobAcctGatherType       = (null)\nKillWait                = 30 sec\nKillOnBadExit = 0\n')).toBe(30_000);
    expect(slurmKillWaitMs(() => 'nothing of the kind')).toBeUndefined();
    expect(slurmKillWaitMs(() => { throw new Error('scontrol: not found'); })).toBeUndefined();
  });

  it('cuts a longer grace to KillWait less 2 s (at least 1 s), and says why; leaves a shorter one alone', () => {
    expect(graceUnderKillWait(10_000, 30_000)).toEqual({ graceMs: 10_000 });
    expect(graceUnderKillWait(30_000, 30_000)).toMatchObject({ graceMs: 28_000, note: expect.stringContaining('grace period cut to 28s') });
    expect(graceUnderKillWait(10_000, 2_000).graceMs).toBe(1_000);
    expect(graceUnderKillWait(10_000, undefined)).toEqual({ graceMs: 10_000 });
  });
});

describe("Slurm's time limit told from a cancel", () => {
  it('reads the job as scontrol shows it while it signals the job', () => {
    expect(endedForTimeLimit(() => 'JobId=7 JobName=wrap JobState=COMPLETING Reason=TimeLimit Dependency=(null)')).toBe(true);
    expect(endedForTimeLimit(() => 'JobId=7 JobName=wrap JobState=TIMEOUT Reason=None')).toBe(true);
    expect(endedForTimeLimit(() => 'JobId=7 JobName=wrap JobState=CANCELLED Reason=None')).toBe(false);
    expect(endedForTimeLimit(() => { throw new Error('scontrol: error: Invalid job id specified'); })).toBe(false);
  });
});
