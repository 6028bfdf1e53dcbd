-- Up Migration

-- The Slurm job and step a run ran in (SLURM_JOB_ID, SLURM_STEP_ID of the wrapper's environment),
-- so that the records name what the scheduler did to it; null outside Slurm.
ALTER TABLE watchdog_runs ADD COLUMN slurm_job_id text;
ALTER TABLE watchdog_runs ADD COLUMN slurm_step_id text;

-- Down Migration
ALTER TABLE watchdog_runs DROP COLUMN slurm_step_id;
ALTER TABLE watchdog_runs DROP COLUMN slurm_job_id;
