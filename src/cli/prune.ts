/**
 * `scidex-watchdog prune --older-than D`: removes from PostgreSQL the runs that ended longer ago
 * than D, with everything recorded about them, and every sample older than D.
 */
import type { DatabaseConfig } from '../config/database.js';
import { isBareNumber, parseDurationMs } from '../config/duration.js';
import { UsageError } from '../config/errors.js';
import { prune } from '../query/prune.js';
import { withSchema } from '../record/migrate.js';
import { printLine } from './output.js';


/**
 * `--older-than`, in milliseconds. A bare number is refused here, though durations elsewhere take
 * it as seconds: `--older-than 30` meant as days would delete nearly everything.
 * @throws UsageError
 */
function olderThanMs(text: string): number {
  // One sentence for every refusal: parseDurationMs's own would offer "a number of seconds".
  const refused = new UsageError(`invalid --older-than '${text}': expected a positive duration with a unit, such as 30d, 12h or 1h30m`);
  if (isBareNumber(text)) throw refused;
  try {
    return parseDurationMs(text, '--older-than');
  } catch (error) {
    throw error instanceof UsageError ? refused : error;
  }
}

/**
 * Prunes, or with `dryRun` only counts, and prints the rows per table: one line on stderr, or one
 * JSON object on stdout.
 * @param database resolves the configured database; throws UsageError when there is none
 * @throws UsageError for a bad --older-than or no database; database errors
 */
export async function pruneCommand(database: () => DatabaseConfig, argv: { olderThan: string; dryRun?: boolean; json?: boolean }): Promise<void> {
  // The arguments first: a bad --older-than is reported as such even where no database is configured.
  // Further back than 1970 removes nothing, and would be past what a Date holds (8.64e15 ms).
  const cutoff = new Date(Math.max(0, Date.now() - olderThanMs(argv.olderThan))).toISOString();
  const dryRun = argv.dryRun === true;
  const counts = await withSchema(database(), (client) => prune(client, cutoff, dryRun));
  if (argv.json) process.stdout.write(JSON.stringify({ cutoff, dry_run: dryRun, ...counts }) + '\n');
  else {
    const rows = Object.entries(counts).map(([table, count]) => `${table} ${count}`).join(', ');
    printLine('scidex-watchdog', `${dryRun ? 'would remove' : 'removed'} rows: ${rows} (runs ended and samples taken before ${cutoff})`);
  }
}
