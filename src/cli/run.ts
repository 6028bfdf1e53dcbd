/**
 * `scidex-run`: argv and environment to a RunConfig, then launch. No logic of its own: bad input
 * becomes one line on stderr and exit status 125, before anything is spawned.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UsageError } from '../config/errors.js';
import { buildRunConfig, RUN_DEFAULTS, type RawRunOptions } from '../config/run-config.js';
import { EXIT_INTERNAL } from '../config/exit-codes.js';
import { launch } from '../supervise/launch.js';
import { printExplanation } from './explain.js';
import { messagesFor, printLine, printWarningsAsLines } from './output.js';
import { packageVersion } from './version.js';

const PROGRAM = 'scidex-run';

/** Each option, its environment variable and its help; defaults live in RUN_DEFAULTS. */
const OPTIONS = {
  'analysis-id': {
    env: 'SCIDEX_RUN_ANALYSIS_ID',
    describe:
      'The analysis this run belongs to (text, at most 256 characters); stored with every record and given to the command as SCIDEX_ANALYSIS_ID. Defaults to an inherited SCIDEX_ANALYSIS_ID.',
  },
  timeout: {
    env: 'SCIDEX_RUN_TIMEOUT',
    describe: `Wall-clock limit: 90s, 30m, 1h30m, or seconds; 0 disables. Exceeding it ends the run with status 124. [default: ${RUN_DEFAULTS.timeout}]`,
  },
  'memory-limit': {
    env: 'SCIDEX_RUN_MEMORY_LIMIT',
    describe: `Memory limit of the whole process tree, on the sum of PSS: 512MiB, 2GiB, 2G (binary), 2GB (decimal), or bytes; 0 disables. Exceeding it ends the run with status 137. [default: ${RUN_DEFAULTS.memoryLimit}]`,
  },
  grace: {
    env: 'SCIDEX_RUN_GRACE',
    describe: `Grace period between the first signal and SIGKILL, a duration. [default: ${RUN_DEFAULTS.grace}]`,
  },
  orphans: {
    env: 'SCIDEX_RUN_ORPHANS',
    describe: `What to do with processes still alive when the command exits: kill (first signal, grace, SIGKILL), wait (for them, under the same limits), ignore (record them and leave them running). [default: ${RUN_DEFAULTS.orphans}]`,
  },
  'orphan-settle': {
    env: 'SCIDEX_RUN_ORPHAN_SETTLE',
    describe: `How long processes still alive when the command exits get to exit by themselves (helpers such as Python's resource tracker leave within milliseconds) before they count as orphans; ends as soon as the tree is empty. 0: orphans at once. [default: ${RUN_DEFAULTS.orphanSettle}]`,
  },
  'poll-interval': {
    env: 'SCIDEX_RUN_POLL_INTERVAL',
    describe: `How often the tree is scanned: a fixed duration (500ms) or a range (100ms..1s) within which it adapts: faster near the memory limit or while memory grows fast. [default: ${RUN_DEFAULTS.pollInterval}]`,
  },
  'kill-signal': {
    env: 'SCIDEX_RUN_KILL_SIGNAL',
    describe: `First signal of the termination sequence on timeout, memory or orphans: a name (SIGTERM, TERM) or number. [default: ${RUN_DEFAULTS.killSignal}]`,
  },
  tracking: {
    env: 'SCIDEX_RUN_TRACKING',
    describe: `How the process tree is tracked: cgroup (a cgroup v2 per run), subreaper (orphans re-parent to scidex-run), pgroup (group, session, ancestry and cookie), or auto, the strongest this host supports (see --explain-tracking). [default: ${RUN_DEFAULTS.tracking}]`,
  },
  'database-url': {
    env: 'SCIDEX_RUN_DATABASE_URL',
    describe:
      'PostgreSQL to record into (postgresql://user@host:5432/db). Also read from DATABASE_URL or the libpq PG* variables; with none, the journal alone keeps the records.',
  },
  'state-dir': {
    env: 'SCIDEX_RUN_STATE_DIR',
    describe:
      'Directory for journals (created 0700). [default: $XDG_STATE_HOME/scidex-run, ~/.local/state/scidex-run, or /var/lib/scidex-run for root]',
  },
  'sample-interval': {
    env: 'SCIDEX_RUN_SAMPLE_INTERVAL',
    describe: `How often the tree's RSS, PSS, CPU and process count are recorded (watchdog_samples), plus once at each new peak of RSS; 0 disables. [default: ${RUN_DEFAULTS.sampleInterval}]`,
  },
  'heartbeat-interval': {
    env: 'SCIDEX_RUN_HEARTBEAT_INTERVAL',
    describe: `How often a running run updates heartbeat_at and ships what its journal holds (so other hosts can tell live runs from lost ones); 0 disables. [default: ${RUN_DEFAULTS.heartbeatInterval}]`,
  },
  pushgateway: {
    env: 'SCIDEX_RUN_PUSHGATEWAY',
    describe:
      "Prometheus Pushgateway (http://host:9091) to push the run's final metrics to when it ends (job scidex_run, grouped by analysis_id, else instance). A failed push is a warning; it never changes the exit status.",
  },
  'journal-retention': {
    env: 'SCIDEX_RUN_JOURNAL_RETENTION',
    describe: `How long a journal stays in the state directory once every record of it is in PostgreSQL; journals not yet shipped are never removed. [default: ${RUN_DEFAULTS.journalRetention}]`,
  },
} as const;

const FLAGS = {
  'preserve-status': {
    env: 'SCIDEX_RUN_PRESERVE_STATUS',
    describe: "Exit with the command's own status even when scidex-run killed it (128+signal after a kill).",
  },
  quiet: { env: 'SCIDEX_RUN_QUIET', describe: 'Print nothing of our own but errors.' },
  // Command line only: a variable left in a CI or cron environment would turn every run into a report.
  'explain-tracking': {
    env: undefined,
    describe: 'Say which tracking backends this host supports and why, which one auto picks, and exit (no command needed).',
  },
  json: { env: undefined, describe: 'With --explain-tracking: print it as JSON.' },
} as const;

const EPILOGUE = `Exit status (as timeout(1), tini and Kubernetes):
  N        the command exited with N          124  killed for the wall-clock timeout
  128+S    the command died of signal S       137  killed for the memory limit
  128+S    cancelled by signal S to us (130 for Ctrl-C)
  125      scidex-run failed or bad usage     126  command not executable   127  command not found

Signals INT, TERM, HUP, QUIT, USR1, USR2 sent to scidex-run are forwarded to every process of the run;
INT, TERM and HUP also cancel it (SIGKILL after the grace period; a second one kills at once).
The command's environment gains SCIDEX_RUN_ID (a UUID) and SCIDEX_ANALYSIS_ID.`;

/**
 * A flag's environment variable: 1/true/yes/on, or 0/false/no/off (any case); empty is unset.
 * @throws UsageError for anything else: `maybe` must not silently mean off
 */
function envFlag(name: string | undefined, env: NodeJS.ProcessEnv): boolean {
  const value = name === undefined ? undefined : env[name]?.trim();
  if (value === undefined || value === '') return false;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new UsageError(`invalid ${name} '${value}': expected 1, true, yes, on, or 0, false, no, off`);
}

/** Parses argv and the environment into raw options. @throws UsageError */
function parseArgs(args: string[], env: NodeJS.ProcessEnv): RawRunOptions & { explainTracking: boolean; json: boolean } {
  const parser = yargs(args)
    .scriptName(PROGRAM)
    .usage('Usage: $0 [options] -- command [args...]\n\nRuns command as a supervised analysis: its whole process tree is tracked, limited, killed when it must be, and recorded.')
    .parserConfiguration({ 'populate--': true, 'parse-positional-numbers': false, 'halt-at-non-option': true })
    .strictOptions()
    .version(packageVersion())
    .help()
    .alias('help', 'h')
    .epilogue(EPILOGUE)
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((message, error) => {
      throw new UsageError(message ?? error?.message ?? 'invalid arguments');
    });
  for (const [name, option] of Object.entries(OPTIONS)) {
    parser.option(name, { type: 'string', requiresArg: true, describe: `${option.describe} [env: ${option.env}]` });
  }
  for (const [name, flag] of Object.entries(FLAGS)) {
    parser.option(name, { type: 'boolean', describe: flag.env ? `${flag.describe} [env: ${flag.env}]` : flag.describe });
  }
  const argv = parser.parseSync() as Record<string, unknown> & { _: (string | number)[]; '--'?: (string | number)[] };
  const pick = (name: keyof typeof OPTIONS): string | undefined => {
    const value = argv[name];
    if (Array.isArray(value)) throw new UsageError(`--${name} was given more than once`);
    // An empty variable counts as unset (CI systems set a secret that does not exist to "").
    return (value as string | undefined) ?? (env[OPTIONS[name].env] || undefined);
  };
  // halt-at-non-option puts the first word that is not an option, and all after it, in argv['--'].
  const command = [...argv._, ...(argv['--'] ?? [])].map(String);
  const separator = args.indexOf('--');
  if (separator >= 0 && command.length > args.length - separator - 1) {
    throw new UsageError(`unexpected argument '${command[0]}' before --: an option takes one value (quote '5 minutes')`);
  }
  const flag = (name: keyof typeof FLAGS): boolean => (argv[name] as boolean | undefined) ?? envFlag(FLAGS[name].env, env);
  return {
    command,
    analysisId: pick('analysis-id') ?? env.SCIDEX_ANALYSIS_ID,
    timeout: pick('timeout') ?? RUN_DEFAULTS.timeout,
    memoryLimit: pick('memory-limit') ?? RUN_DEFAULTS.memoryLimit,
    grace: pick('grace') ?? RUN_DEFAULTS.grace,
    orphans: pick('orphans') ?? RUN_DEFAULTS.orphans,
    orphanSettle: pick('orphan-settle') ?? RUN_DEFAULTS.orphanSettle,
    pollInterval: pick('poll-interval') ?? RUN_DEFAULTS.pollInterval,
    killSignal: pick('kill-signal') ?? RUN_DEFAULTS.killSignal,
    databaseUrl: pick('database-url'),
    stateDir: pick('state-dir'),
    sampleInterval: pick('sample-interval') ?? RUN_DEFAULTS.sampleInterval,
    heartbeatInterval: pick('heartbeat-interval') ?? RUN_DEFAULTS.heartbeatInterval,
    journalRetention: pick('journal-retention') ?? RUN_DEFAULTS.journalRetention,
    pushgateway: pick('pushgateway'),
    preserveStatus: flag('preserve-status'),
    tracking: pick('tracking') ?? RUN_DEFAULTS.tracking,
    quiet: flag('quiet'),
    explainTracking: flag('explain-tracking'),
    json: flag('json'),
  };
}

/** Entry point of bin/scidex-run. Sets process.exitCode and exits. */
export async function main(args: string[] = hideBin(process.argv), env: NodeJS.ProcessEnv = process.env): Promise<never> {
  let status: number;
  let quiet = false;
  printWarningsAsLines(PROGRAM, () => quiet);
  try {
    const raw = parseArgs(args, env);
    quiet = raw.quiet;
    if (raw.explainTracking) {
      printExplanation(raw.json);
      process.exit(0);
    }
    const config = buildRunConfig(raw, env);
    status = await launch(config, messagesFor(PROGRAM, config.quiet));
  } catch (error) {
    printLine(PROGRAM, error instanceof UsageError ? `${error.message}` : `internal error: ${(error as Error).message}`);
    status = EXIT_INTERNAL;
  }
  process.exit(status);
}
