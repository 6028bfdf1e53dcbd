/**
 * `scidex-watchdog`: the operator's side. This build has `migrate`, `runs`, `events`, `reap` and `ship`;
 * each opens one connection for its work and closes it.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { resolveDatabase, type DatabaseConfig } from '../config/database.js';
import { parseDurationMs } from '../config/duration.js';
import { UsageError } from '../config/errors.js';
import { isRunId } from '../config/run-id.js';
import { withClient } from '../record/connect.js';
import { describeDatabaseError } from '../record/db-error.js';
import { migrate } from '../record/migrate.js';
import { selectEvents, selectRuns, type ListFilter } from '../record/sql.js';
import { EXIT_INTERNAL } from '../supervise/exit-status.js';
import { defaultStateDir } from '../config/run-config.js';
import { shipStateDir } from '../watchdog/ship.js';
import { printLine } from './output.js';
import { describeOutcome, reapCommand } from './reap.js';
import { renderTable } from './table.js';
import { packageVersion } from './version.js';

const PROGRAM = 'scidex-watchdog';

function database(flag: string | undefined): DatabaseConfig {
  const config = resolveDatabase(flag, process.env);
  if (!config) throw new UsageError('no database configured: give --database-url, or set DATABASE_URL or the PG* variables');
  return config;
}

/** The options of the commands that sweep a state directory (`reap`, `ship`). */
function sweepOptions(parser: Argv, swept: string, item: string) {
  return parser
    .option('state-dir', { type: 'string', describe: `State directory whose ${swept} to sweep [env: SCIDEX_RUN_STATE_DIR]` })
    .option('json', { type: 'boolean', describe: `One JSON object per ${item} on stdout` })
    .option('quiet', { type: 'boolean', describe: 'Print nothing but errors' });
}

function listOptions(parser: Argv) {
  return parser
    .option('analysis-id', { type: 'string', describe: 'Only this analysis' })
    .option('run', { type: 'string', describe: 'Only this run (UUID)' })
    .option('status', { type: 'string', describe: 'Only runs in this status (running, completed, failed, timeout, out_of_memory, cancelled, lost, failed_to_start)' })
    .option('host', { type: 'string', describe: 'Only runs of this host' })
    .option('since', { type: 'string', describe: 'Only the last while (2h, 7d) or since a time (2026-11-21T08:00Z)' })
    .option('json', { type: 'boolean', describe: 'One JSON object per row instead of a table' })
    .option('limit', { type: 'number', default: 50, describe: 'At most this many rows, newest first' });
}

/** `--since`: a duration back from now, or a time Date.parse reads. @throws UsageError */
function sinceOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const absolute = Date.parse(text);
  if (!Number.isNaN(absolute) && /\d{4}-\d{2}-\d{2}/.test(text)) return new Date(absolute).toISOString();
  return new Date(Date.now() - parseDurationMs(text, '--since')).toISOString();
}

/** Rows as a psql-style table, or as JSON lines. */
function printRows(rows: Record<string, unknown>[], json: boolean | undefined): void {
  if (json) for (const row of rows) process.stdout.write(JSON.stringify(row) + '\n');
  else process.stdout.write(renderTable(rows) + '\n');
}

function filterOf(argv: { analysisId?: string; run?: string; status?: string; host?: string; since?: string; limit: number }): ListFilter {
  if (argv.run !== undefined && !isRunId(argv.run.toLowerCase())) {
    throw new UsageError(`invalid --run '${argv.run}': expected a run id (UUID)`);
  }
  if (!Number.isInteger(argv.limit) || argv.limit < 1) throw new UsageError('invalid --limit: expected a whole number >= 1');
  return { analysisId: argv.analysisId, runId: argv.run, status: argv.status, host: argv.host, since: sinceOf(argv.since), limit: argv.limit };
}

/** Entry point of bin/scidex-watchdog. */
export async function main(args: string[] = hideBin(process.argv)): Promise<never> {
  let status = 0;
  try {
    await yargs(args)
      .scriptName(PROGRAM)
      .usage('Usage: $0 <command> [options]\n\nThe operator side of scidex-run: the schema, and what was recorded.')
      .option('database-url', { type: 'string', describe: 'PostgreSQL URL [env: DATABASE_URL, SCIDEX_RUN_DATABASE_URL, PG*]' })
      .command('migrate', 'Apply the schema migrations (idempotent; safe from several hosts at once)', (parser) =>
        parser.option('down', { type: 'boolean', describe: 'Undo the last migration instead' }), async (argv) => {
        const applied = await withClient(database(argv.databaseUrl as string | undefined), (client) => migrate(client, argv.down ? 'down' : 'up'));
        printLine(PROGRAM, applied.length === 0 ? 'schema is up to date' : `${argv.down ? 'undid' : 'applied'} ${applied.join(', ')}`);
      })
      .command('runs', 'List runs, newest first', listOptions, async (argv) => {
        const rows = await withClient(database(argv.databaseUrl as string | undefined), async (client) => {
          await migrate(client);
          return selectRuns(client, filterOf(argv as Parameters<typeof filterOf>[0]));
        });
        printRows(rows, argv.json);
      })
      .command('events', 'List lifecycle and kill events, newest first', listOptions, async (argv) => {
        const rows = await withClient(database(argv.databaseUrl as string | undefined), async (client) => {
          await migrate(client);
          return selectEvents(client, filterOf(argv as Parameters<typeof filterOf>[0]));
        });
        printRows(rows, argv.json);
      })
      .command(
        'reap',
        'One sweep: finish the runs of this host whose wrapper is gone (kill what is left of them after checking identity and cookie, mark them lost)',
        (parser) => sweepOptions(parser, 'markers', 'run').option('run', { type: 'string', describe: 'Only this run (UUID)' }),
        async (argv) => {
          const outcomes = await reapCommand({
            runId: argv.run,
            stateDir: argv.stateDir,
            databaseUrl: argv.databaseUrl as string | undefined,
            quiet: argv.quiet === true,
          });
          for (const outcome of outcomes) {
            if (argv.json) process.stdout.write(JSON.stringify(outcome) + '\n');
            else if (!argv.quiet) printLine(PROGRAM, describeOutcome(outcome));
          }
        },
      )
      .command(
        'ship',
        'Ship the journals of a state directory that are not yet all in PostgreSQL (records kept while it was down or not configured)',
        (parser) => sweepOptions(parser, 'journals', 'journal'),
        async (argv) => {
          const outcomes = await shipStateDir(argv.stateDir ?? defaultStateDir(process.env), database(argv.databaseUrl as string | undefined));
          for (const outcome of outcomes) {
            for (const line of outcome.bad) printLine(PROGRAM, `${outcome.journal}:${line.line}: not a record, skipped: ${line.text.slice(0, 80)}`);
            if (outcome.error) printLine(PROGRAM, `${outcome.journal}: refused by PostgreSQL (${outcome.error}); kept for later`);
            if (argv.json) process.stdout.write(JSON.stringify(outcome) + '\n');
            else if (!argv.quiet) printLine(PROGRAM, `${outcome.journal}: ${outcome.shipped} records shipped${outcome.done ? '; marked shipped' : '; run still going'}`);
          }
          if (outcomes.some((outcome) => outcome.error)) status = 1;
        },
      )
      .demandCommand(1, 'give a command: migrate, runs, events, reap or ship')
      .strict()
      .version(packageVersion())
      .help()
      .alias('help', 'h')
      .fail((message, error) => {
        throw error ?? new UsageError(message);
      })
      .parseAsync();
  } catch (error) {
    const usage = error instanceof UsageError;
    printLine(PROGRAM, usage ? error.message : `database error: ${describeDatabaseError(error)}`);
    status = usage ? EXIT_INTERNAL : 1;
  }
  process.exit(status);
}
