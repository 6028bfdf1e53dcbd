/**
 * `scidex-watchdog`: the operator's side (docs/design.md §7): `migrate`, `runs`, `events`, `show`,
 * `prune`, `reap`, `ship`, `cancel`, `adopt`, `release`, `serve` (the host daemon) and `status`. Each command but `serve`
 * opens one connection for its work and closes it; `runs`, `events` and `show` read the journals of
 * the state directory instead when no database is configured. The handlers live one per file
 * beside this one, loaded when its command runs (watchdog-options.ts holds what yargs needs before).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { resolveDatabase, type DatabaseConfig } from '../config/database.js';
import { UsageError } from '../config/errors.js';
import { describeDatabaseError } from '../record/db-error.js';
import { EXIT_INTERNAL } from '../config/exit-codes.js';
import { printLine, printWarningsAsLines } from './output.js';
import {
  adoptOptions,
  cancelOptions,
  listOptions,
  migrateOptions,
  pruneOptions,
  reapOptions,
  releaseOptions,
  serveOptions,
  shipOptions,
  showOptions,
  statusOptions,
} from './watchdog-options.js';
import { packageVersion } from './version.js';

const PROGRAM = 'scidex-watchdog';

function database(flag: string | undefined): DatabaseConfig {
  const config = resolveDatabase(flag, process.env);
  if (!config) throw new UsageError('no database configured: give --database-url, or set DATABASE_URL or the PG* variables');
  return config;
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
      .command('migrate', 'Apply the schema migrations (idempotent; safe from several hosts at once)', migrateOptions, async (argv) => {
        const [{ withClient }, { migrate }] = await Promise.all([import('../record/connect.js'), import('../record/migrate.js')]);
        const applied = await withClient(database(argv.databaseUrl as string | undefined), (client) => migrate(client, argv.down ? 'down' : 'up'));
        if (applied.length > 0) printLine(PROGRAM, `${argv.down ? 'undid' : 'applied'} ${applied.join(', ')}`);
        else printLine(PROGRAM, argv.down ? 'no migration to undo' : 'schema is up to date');
      })
      .command('runs', 'List runs, newest first', listOptions, async (argv) => (await import('./query.js')).runsCommand(argv))
      .command('events', 'List lifecycle and kill events, newest first', listOptions, async (argv) => (await import('./query.js')).eventsCommand(argv))
      .command('show [run]', 'Show one run (or the latest of --analysis-id): header, processes, samples, events; a run running on this host measured now', showOptions, async (argv) => {
        status = await (await import('./query.js')).showCommand(argv);
      })
      .command('prune', 'Delete runs that ended longer ago than --older-than, with their records, and older samples', pruneOptions, async (argv) =>
        (await import('./prune.js')).pruneCommand(() => database(argv.databaseUrl as string | undefined), argv),
      )
      .command(
        'reap',
        'One sweep: finish the runs of this host whose wrapper is gone (kill what is left of them after checking identity and cookie, mark them lost)',
        reapOptions,
        async (argv) => {
          const { describeOutcome, reapCommand } = await import('./reap.js');
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
        shipOptions,
        async (argv) => {
          status = await (await import('./ship.js')).shipCommand(argv, database(argv.databaseUrl as string | undefined));
        },
      )
      .command(
        'cancel [run]',
        'Cancel a run (or every running run of --analysis-id) through its wrapper: here directly, on another host through PostgreSQL',
        cancelOptions,
        async (argv) => {
          status = await (await import('./cancel.js')).cancelCommand({ ...argv, databaseUrl: argv.databaseUrl as string | undefined }, (line) => printLine(PROGRAM, line));
        },
      )
      .command(
        'adopt <pid>',
        "Supervise a running process started elsewhere, and its tree, as a run: limits, termination and records as scidex-run's (its owner or root only); prints the run id",
        adoptOptions,
        async (argv) => {
          status = await (await import('./adopt.js')).adoptCommand({ ...argv, pid: String(argv.pid), databaseUrl: argv.databaseUrl as string | undefined }, (line) => printLine(PROGRAM, line));
        },
      )
      .command('release <run>', 'Stop supervising an adopted run, signalling nothing (its owner or root only)', releaseOptions, async (argv) => {
        status = await (await import('./release.js')).releaseCommand({ ...argv, run: String(argv.run) }, (line) => printLine(PROGRAM, line));
      })
      .command('serve', 'The host daemon: reap and ship every --interval, serve /metrics, /status and a live page on --listen', serveOptions, async (argv) => {
        const { serveCommand } = await import('./serve.js');
        status = await serveCommand(argv as Parameters<typeof serveCommand>[0]);
      })
      .command('status', "Whether this host's serve daemon is up (exit 0) or down (exit 1); with a database, every host's daemon", statusOptions, async (argv) => {
        const { statusCommand } = await import('./serve.js');
        status = await statusCommand(argv as Parameters<typeof statusCommand>[0]);
      })
      .demandCommand(1, 'give a command: migrate, runs, events, show, prune, reap, ship, cancel, adopt, release, serve or status')
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
