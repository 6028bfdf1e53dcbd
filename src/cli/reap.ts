/**
 * `scidex-watchdog reap`: the state directory's markers first, then stale empty run cgroups, then
 * (with a database) the rows of this host still `running`. A database that cannot be reached is reported, and the local sweep
 * still counts.
 */
import { resolveDatabase } from '../config/database.js';
import { UsageError } from '../config/errors.js';
import { isRunId } from '../config/run-id.js';
import { defaultStateDir } from '../config/run-config.js';
import { describeDatabaseError } from '../record/db-error.js';
import { prepareJournalDir } from '../record/state-dir.js';
import { reapMarkedRun, reapStateDir, type ReapOutcome } from '../watchdog/reap.js';
import { reapDatabaseRows } from '../watchdog/reap-database.js';
import { removeStaleCgroups } from '../track/stale-cgroups.js';
import { messagesFor } from './output.js';

export interface ReapRequest {
  runId?: string;
  stateDir?: string;
  databaseUrl?: string;
  quiet: boolean;
}

/**
 * Runs one sweep.
 * @throws UsageError for a bad run id, or a state directory that is refused or cannot be written (state-dir.ts)
 */
export async function reapCommand(request: ReapRequest): Promise<ReapOutcome[]> {
  if (request.runId !== undefined && !isRunId(request.runId)) throw new UsageError(`invalid --run '${request.runId}': expected a run id (UUID)`);
  const stateDir = request.stateDir ?? defaultStateDir(process.env);
  prepareJournalDir(stateDir);
  const messages = messagesFor('scidex-watchdog', request.quiet);
  const database = resolveDatabase(request.databaseUrl, process.env);
  const options = { stateDir, database, warn: messages.warn };
  const outcomes: ReapOutcome[] = [];
  if (request.runId) {
    const outcome = await reapMarkedRun(request.runId, options);
    if (outcome) outcomes.push(outcome);
  } else {
    outcomes.push(...(await reapStateDir(options)));
  }
  removeStaleCgroups();
  if (database) {
    try {
      const handled = new Set(outcomes.map((outcome) => outcome.runId));
      outcomes.push(...(await reapDatabaseRows(database, options, handled, request.runId)));
    } catch (error) {
      messages.warn(`database ${database.display} unavailable (${describeDatabaseError(error)}): only the state directory was swept`);
    }
  }
  return outcomes;
}

/** One line for a person. */
export function describeOutcome(outcome: ReapOutcome): string {
  const what = {
    alive: 'its wrapper is alive; left alone',
    finished: 'already finished; marker removed',
    busy: 'another reaper is on it',
    lost: `marked lost; ${outcome.killed} processes signalled, ${outcome.refused} refused (identity or cookie did not match)${outcome.survivors ? `, ${outcome.survivors} could not be killed` : ''}`,
  }[outcome.verdict];
  return `run ${outcome.runId}: ${what}`;
}
