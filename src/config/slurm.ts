/**
 * The Slurm job and step a wrapper runs in, from the variables Slurm sets in the environment of a
 * job's processes (sbatch(1) and srun(1), "OUTPUT ENVIRONMENT VARIABLES": SLURM_JOB_ID, and
 * SLURM_STEP_ID for a step). Inherited, so anyone's: a value that is not one of Slurm's counts as none.
 */

/** The run row's Slurm fields: null outside Slurm. */
export interface SlurmJob {
  /** Decimal job id. */
  slurm_job_id: string | null;
  /** Decimal step id, or a named step (`batch`, `extern`, `interactive`). */
  slurm_step_id: string | null;
}

const JOB_ID = /^\d{1,20}$/;
const STEP_ID = /^(\d{1,10}|batch|extern|interactive)$/;

/** The job and step of `env` (SLURM_JOB_ID, SLURM_STEP_ID), each null when unset or malformed. */
export function slurmJob(env: NodeJS.ProcessEnv): SlurmJob {
  const job = env.SLURM_JOB_ID ?? '';
  const step = env.SLURM_STEP_ID ?? '';
  const inJob = JOB_ID.test(job);
  return { slurm_job_id: inJob ? job : null, slurm_step_id: inJob && STEP_ID.test(step) ? step : null };
}
