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

/** Seconds kept between the end of our grace period and Slurm's SIGKILL: for our own SIGKILL pass and the records. */
const KILL_WAIT_MARGIN_MS = 2000;
/** The shortest grace period a cap leaves, milliseconds. */
const MIN_CAPPED_GRACE_MS = 1000;

/**
 * Slurm's KillWait (slurm.conf(5): seconds between the SIGTERM of a cancel or time limit and the
 * SIGKILL of every process of the job), as `scontrol show config` prints it.
 * @param scontrol runs `scontrol show config` and returns what it printed (throws when it cannot)
 * @returns milliseconds; undefined when scontrol fails or prints no KillWait
 */
export function slurmKillWaitMs(scontrol: () => string): number | undefined {
  try {
    const seconds = /^KillWait\s*=\s*(\d+)\s*sec/m.exec(scontrol())?.[1];
    return seconds === undefined ? undefined : Number(seconds) * 1000;
  } catch {
    return undefined;
  }
}

/**
 * The grace period to use inside a Slurm job: below KillWait by a margin, so that our SIGKILL pass
 * and the run's last records come before Slurm's SIGKILL takes the wrapper too.
 * @returns the grace (milliseconds) and, when it was cut, the sentence that says so
 */
export function graceUnderKillWait(graceMs: number, killWaitMs: number | undefined): { graceMs: number; note?: string } {
  if (killWaitMs === undefined) return { graceMs };
  const cap = Math.max(MIN_CAPPED_GRACE_MS, killWaitMs - KILL_WAIT_MARGIN_MS);
  if (graceMs <= cap) return { graceMs };
  return { graceMs: cap, note: `grace period cut to ${cap / 1000}s: Slurm SIGKILLs the job ${killWaitMs / 1000}s (KillWait) after its SIGTERM, and the run's end must be recorded before that` };
}

/**
 * Whether Slurm ended job `jobId` for its time limit, as `scontrol -o show job ID` says while it
 * signals the job (JobState=TIMEOUT, or COMPLETING with Reason=TimeLimit; a scancel leaves
 * another reason). Asked when a SIGTERM reaches a wrapper inside a job: the signal alone cannot tell.
 * @param scontrol runs `scontrol -o show job ID` and returns what it printed (throws when it cannot)
 * @returns false too when scontrol cannot tell
 */
export function endedForTimeLimit(scontrol: () => string): boolean {
  try {
    const text = scontrol();
    return /(^|\s)JobState=TIMEOUT(\s|$)/.test(text) || /(^|\s)Reason=TimeLimit(\s|$)/.test(text);
  } catch {
    return false;
  }
}
