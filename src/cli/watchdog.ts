/**
 * `scidex-watchdog`: the operator's side (docs/design.md §7): `migrate`, `runs`, `events`, `show`,
 * `prune`, `reap`, `ship`, `cancel`, `serve` (the host daemon) and `status`. Each command but `serve`
 * opens one connection for its work and closes it; `runs`, `events` and `show` read the journals of
 * the state directory instead when no database is configured. The handlers live one per file
 * beside this one.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { resolveDatabase, type DatabaseConfig } from '../config/database.js';
import { UsageError } from '../config/errors.js';
import { withClient } from '../record/connect.js';
import { describeDatabaseError } from '../record/db-error.js';
import { migrate } from '../record/migrate.js';
import { EXIT_INTERNAL } from '../config/exit-codes.js';
import { RUN_DEFAULTS } from '../config/run-config.js';
import { printLine, printWarningsAsLines } from './output.js';
import { pruneCommand, pruneOptions } from './prune.js';
import { eventsCommand, listOptions, runsCommand, showCommand, showOptions } from './query.js';
import { describeOutcome, reapCommand } from './reap.js';
import { shipCommand } from './ship.js';
import { serveCommand, serveOptions, statusCommand, statusOptions } from './serve.js';
import { cancelCommand, cancelOptions } from './cancel.js';
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
    .option('state-dir', { type: 'string', requiresArg: true, describe: `State directory whose ${swept} to sweep [env: SCIDEX_RUN_STATE_DIR]` })
    .option('json', { type: 'boolean', describe: `One JSON object per ${item} on stdout` })
    .option('quiet', { type: 'boolean', describe: 'Print nothing but errors' });
}

/** Entry point of bin/scidex-watchdog. */
export async function main(args: string[] = hideBin(process.argv)): Promise<never> {
  let status = 0;
  printWarningsAsLines(PROGRAM);
  try {
    await yargs(args)
      .scriptName(PROGRAM)
      .usage('Usage: $0 <command> [options]\n\nThe operator side of scidex-run: the schema, and what was recorded.')
      .option('database-url', { type: 'string', requiresArg: true, describe: 'PostgreSQL URL [env: DATABASE_URL, SCIDEX_RUN_DATABASE_URL, PG*]' })
      .command('migrate', 'Apply the schema migrations (idempotent; safe from several hosts at once)', (parser) =>
        parser.option('down', { type: 'boolean', describe: 'Undo the last migration instead' }), async (argv) => {
        const applied = await withClient(database(argv.databaseUrl as string | undefined), (client) => migrate(client, argv.down ? 'down' : 'up'));
        if (applied.length > 0) printLine(PROGRAM, `${argv.down ? 'undid' : 'applied'} ${applied.join(', ')}`);
        else printLine(PROGRAM, argv.down ? 'no migration to undo' : 'schema is up to date');
      })
      .command('runs', 'List runs, newest first', listOptions, (argv) => runsCommand(argv))
      .command('events', 'List lifecycle and kill events, newest first', listOptions, (argv) => eventsCommand(argv))
      .command('show [run]', 'Show one run (or the latest of --analysis-id): header, processes, samples, events', showOptions, async (argv) => {
        status = await showCommand(argv);
      })
      .command('prune', 'Delete runs that ended longer ago than --older-than, with their records, and older samples', pruneOptions, (argv) =>
        pruneCommand(() => database(argv.databaseUrl as string | undefined), argv),
      )
      .command(
        'reap',
        'One sweep: finish the runs of this host whose wrapper is gone (kill what is left of them after checking identity and cookie, mark them lost)',
        (parser) => sweepOptions(parser, 'markers', 'run').option('run', { type: 'string', requiresArg: true, describe: 'Only this run (UUID)' }),
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
        (parser) =>
          sweepOptions(parser, 'journals', 'journal')
            .option('journal-retention', {
              type: 'string',
              requiresArg: true,
              default: process.env.SCIDEX_RUN_JOURNAL_RETENTION ?? RUN_DEFAULTS.journalRetention,
              describe: 'Remove journals shipped longer ago than this (unshipped ones are never removed) [env: SCIDEX_RUN_JOURNAL_RETENTION]',
            })
            .option('wait', {
              type: 'string',
              requiresArg: true,
              default: '0',
              describe: 'Keep retrying (1 s to 30 s apart) while PostgreSQL is busy or down, or another shipper holds the state directory, until every finished run is in or this long has passed; 0: one sweep',
            }),
        async (argv) => {
          status = await shipCommand(argv, database(argv.databaseUrl as string | undefined));
        },
      )
      .command(
        'cancel [run]',
        'Cancel a run (or every running run of --analysis-id) through its wrapper: here directly, on another host through PostgreSQL',
        cancelOptions,
        async (argv) => {
          status = await cancelCommand({ ...argv, databaseUrl: argv.databaseUrl as string | undefined }, (line) => printLine(PROGRAM, line));
        },
      )
      .command('serve', 'The host daemon: reap and ship every --interval, serve /metrics, /status and a live page on --listen', serveOptions, async (argv) => {
        status = await serveCommand(argv as Parameters<typeof serveCommand>[0]);
      })
      .command('status', "Whether this host's serve daemon is up (exit 0) or down (exit 1); with a database, every host's daemon", statusOptions, async (argv) => {
        status = await statusCommand(argv as Parameters<typeof statusCommand>[0]);
      })
      .demandCommand(1, 'give a command: migrate, runs, events, show, prune, reap, ship, cancel, serve or status')
      .strict()
      .version(packageVersion())
      .help()
      .alias('help', 'h')
      .fail((message, error) => {
        // yargs' own complaints (a missing value: "Not enough arguments following") come as a YError.
        if (error && error.name !== 'YError') throw error;
        throw new UsageError(message ?? error?.message ?? 'invalid arguments');
      })
      .parseAsync();
  } catch (error) {
    const usage = error instanceof UsageError;
    printLine(PROGRAM, usage ? error.message : `database error: ${describeDatabaseError(error)}`);
    status = usage ? EXIT_INTERNAL : 1;
  }
  process.exit(status);
}
