/**
 * `scidex-watchdog release RUN [--reason TEXT] [--state-dir DIR]`: ends the supervision of an
 * adopted run without a signal to it (watchdog/release.ts).
 *
 * Exit status: 0 when the run was released (its supervisor recorded it); 1 when there is no such
 * run here, it was not adopted, it has ended, it is not ours to release, or its supervisor did not
 * finish in time; 125 for bad usage.
 */
import { UsageError } from '../config/errors.js';
import { isRunId } from '../config/run-id.js';
import { defaultStateDir } from '../config/run-config.js';
import { CONTROL_CHARACTER } from '../config/text.js';
import { openStateDir } from '../record/state-dir.js';
import { releaseRun } from '../watchdog/release.js';
import { MAX_REASON } from './watchdog-options.js';

export interface ReleaseArgs {
  run: string;
  reason?: string;
  stateDir?: string;
  json?: boolean;
}

/** Runs `release`, printing one line. @throws UsageError for bad usage (exit 125) */
export async function releaseCommand(args: ReleaseArgs, print: (line: string) => void): Promise<number> {
  const runId = args.run.toLowerCase();
  if (!isRunId(runId)) throw new UsageError(`invalid run '${args.run}': expected a run id (UUID)`);
  const reason = args.reason ?? null;
  if (reason !== null && [...reason].length > MAX_REASON) throw new UsageError(`--reason is too long: at most ${MAX_REASON} characters`);
  if (reason !== null && CONTROL_CHARACTER.test(reason)) throw new UsageError('--reason must not contain control characters');
  const stateDir = args.stateDir ?? defaultStateDir(process.env);
  openStateDir(stateDir, false);
  const result = await releaseRun(stateDir, runId, reason === '' ? null : reason);
  if (args.json) process.stdout.write(JSON.stringify({ run_id: runId, ...result }) + '\n');
  else print(`run ${runId}: ${result.outcome === 'released' ? 'released' : result.outcome.replace(/_/g, ' ')}: ${result.why}`);
  return result.outcome === 'released' ? 0 : 1;
}
