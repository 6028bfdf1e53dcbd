/**
 * `scidex-watchdog ship`: one sweep of a state directory's journals into PostgreSQL, retried for up
 * to --wait while they cannot all go in, reported one line per journal (or one JSON object with
 * --json). Bad lines and refused records are reported even with --quiet: they need an operator.
 */
import { defaultStateDir } from '../config/run-config.js';
import type { DatabaseConfig } from '../config/database.js';
import { parseDurationMs } from '../config/duration.js';
import { openStateDir } from '../record/state-dir.js';
import { shipUntilDrained } from '../watchdog/ship.js';
import { printLine } from './output.js';
import { visible } from '../config/text.js';

const PROGRAM = 'scidex-watchdog';

/** Options of `ship`, as yargs hands them over. */
export interface ShipArgs {
  stateDir?: string;
  journalRetention: string;
  wait: string;
  json?: boolean;
  quiet?: boolean;
}

/**
 * Ships (retrying for up to --wait) and prints the outcome.
 * @returns the exit status: 0, or 1 when a journal could not be shipped or, with --wait, journals
 *          of finished runs still wait at its end
 * @throws UsageError for a bad --journal-retention or --wait, or a state directory refused
 *         (state-dir.ts); the database's error when it cannot be reached
 */
export async function shipCommand(argv: ShipArgs, database: DatabaseConfig): Promise<number> {
  const retentionMs = parseDurationMs(argv.journalRetention, '--journal-retention');
  const waitMs = parseDurationMs(argv.wait, '--wait');
  const stateDir = argv.stateDir ?? defaultStateDir(process.env);
  // Checked, never made: a missing one has nothing to ship.
  openStateDir(stateDir, false);
  const sweep = await shipUntilDrained(stateDir, database, retentionMs, waitMs);
  // File names and bad lines are the state directory's, which anyone with write access there shapes.
  const shown = visible(stateDir);
  if (sweep.busy && !argv.quiet) printLine(PROGRAM, `${shown}: another scidex-watchdog ship is at work; nothing to do`);
  for (const outcome of sweep.outcomes) {
    const journal = visible(outcome.journal);
    for (const line of outcome.bad) printLine(PROGRAM, `${journal}:${line.line}: not a record, skipped: ${visible(line.text.slice(0, 80))}`);
    if (outcome.rejected > 0) {
      printLine(PROGRAM, `${journal}: ${outcome.rejected} records refused by PostgreSQL, set aside with the reason in ${visible(outcome.rejectedPath ?? '')}`);
    }
    if (outcome.error) printLine(PROGRAM, `${journal}: not shipped (${outcome.error}); kept for later`);
    if (argv.json) process.stdout.write(JSON.stringify(outcome) + '\n');
    else if (!argv.quiet && !outcome.error) {
      printLine(PROGRAM, `${journal}: ${outcome.shipped} records shipped${outcome.done ? '; marked shipped' : '; its run has not ended in the journal yet'}`);
    }
  }
  if (!argv.quiet && !argv.json) for (const journal of sweep.expired) printLine(PROGRAM, `${visible(journal)}: shipped and past its retention; removed`);
  if (waitMs > 0 && !sweep.drained && !sweep.busy) printLine(PROGRAM, `${shown}: journals of finished runs still wait after --wait ${visible(argv.wait)}; kept for later`);
  return sweep.outcomes.some((outcome) => outcome.error) || (waitMs > 0 && !sweep.drained && !sweep.busy) ? 1 : 0;
}
