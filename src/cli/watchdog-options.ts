/**
 * The command line of `scidex-watchdog`: each command's options, for yargs. They live apart from
 * the commands themselves (one module per command beside this one), which watchdog.ts loads only
 * when its command runs: a `runs` must not evaluate the daemon, PostgreSQL's driver or the table
 * renderer of the commands it is not.
 */
import type { Argv } from 'yargs';
import { RUN_DEFAULTS } from '../config/run-config.js';
import { PRESSURE_DEFAULTS } from '../config/pressure.js';
import { RUN_STATUSES } from '../record/types.js';

/** Default listener: loopback only; exposing /status (commands, analysis ids) is the operator's choice. */
export const DEFAULT_LISTEN = '127.0.0.1:9464';
export const DEFAULT_INTERVAL = '10s';

/** The longest --reason kept, characters. */
export const MAX_REASON = 1000;

function stateDirOption(parser: Argv) {
  return parser.option('state-dir', {
    type: 'string',
    requiresArg: true,
    describe: 'Without a database: read the journals of this state directory [env: SCIDEX_RUN_STATE_DIR]',
  });
}

/** The options of `runs` and `events`. */
export function listOptions(parser: Argv) {
  return stateDirOption(parser)
    .option('analysis-id', { type: 'string', requiresArg: true, describe: 'Only this analysis' })
    .option('run', { type: 'string', requiresArg: true, describe: 'Only this run (UUID)' })
    .option('status', { type: 'string', requiresArg: true, describe: `Only runs in this status, or (events) the events of such runs: ${RUN_STATUSES.join(', ')}` })
    .option('host', { type: 'string', requiresArg: true, describe: 'Only runs of this host' })
    .option('since', { type: 'string', requiresArg: true, describe: 'Only the last while (2h, 7d) or since a time (2026-11-21T08:00Z)' })
    .option('json', { type: 'boolean', describe: 'The raw records, one JSON object per line, instead of a table' })
    .option('limit', { type: 'number', requiresArg: true, default: 50, describe: 'At most this many rows, newest first' });
}

/** The options of `show`. */
export function showOptions(parser: Argv) {
  return stateDirOption(parser)
    .positional('run', { type: 'string', describe: 'The run (UUID)' })
    .option('analysis-id', { type: 'string', requiresArg: true, describe: 'Instead of a run: the latest run of this analysis' })
    .option('json', { type: 'boolean', describe: 'One JSON object, what the run page shows: {run, processes, samples, events, other_runs, source, live} (live: a run running on this host, measured now, else null)' });
}

export function pruneOptions(parser: Argv) {
  return parser
    .option('older-than', { type: 'string', requiresArg: true, demandOption: true, describe: 'Remove runs that ended, and samples taken, longer ago than this (30d, 12h)' })
    .option('dry-run', { type: 'boolean', describe: 'Only count what would be removed' })
    .option('json', { type: 'boolean', describe: 'One JSON object on stdout: {cutoff, dry_run, runs, events, processes, samples}' });
}

/** The options of `cancel`. */
export function cancelOptions(parser: Argv) {
  return parser
    .positional('run', { type: 'string', describe: 'The run (UUID)' })
    .option('analysis-id', { type: 'string', requiresArg: true, describe: 'Instead of a run: every running run of this analysis' })
    .option('signal', { type: 'string', requiresArg: true, default: 'SIGTERM', describe: 'SIGTERM, SIGINT or SIGHUP: the first signal of the termination sequence; exit status 128+signal' })
    .option('reason', { type: 'string', requiresArg: true, describe: `Why (at most ${MAX_REASON} characters): recorded in the cancel_requested event and the run's reason` })
    .option('state-dir', { type: 'string', requiresArg: true, describe: 'State directory of this host\'s runs [env: SCIDEX_RUN_STATE_DIR]' })
    .option('deliver', { type: 'boolean', describe: 'Instead: deliver the cancel requests other hosts left for this host\'s runs (one pass)' })
    .option('json', { type: 'boolean', describe: 'One JSON object per run on stdout' });
}

/** The options of `serve`. */
export function serveOptions(parser: Argv) {
  return parser
    .option('listen', { type: 'string', requiresArg: true, default: DEFAULT_LISTEN, describe: 'HOST:PORT for /metrics, /status and the live page ([::1]:PORT for IPv6)' })
    .option('interval', { type: 'string', requiresArg: true, default: DEFAULT_INTERVAL, describe: 'Time between sweeps (reap, then ship)' })
    .option('state-dir', { type: 'string', requiresArg: true, describe: 'State directory to sweep and serve [env: SCIDEX_RUN_STATE_DIR]' })
    .option('pressure-guard', {
      type: 'string',
      requiresArg: true,
      default: PRESSURE_DEFAULTS.guard,
      describe: "on or off: when the host runs short of memory, stop this host's run with the largest tree PSS (out_of_memory, reason host_pressure) before the kernel's OOM killer picks a victim",
    })
    .option('min-available', {
      type: 'string',
      requiresArg: true,
      default: PRESSURE_DEFAULTS.minAvailable,
      describe: 'Act at once when MemAvailable falls below this (512MiB, 2G, or a share of MemTotal: 5%)',
    })
    .option('max-memory-pressure', {
      type: 'string',
      requiresArg: true,
      default: PRESSURE_DEFAULTS.maxMemoryPressure,
      describe: 'Act when PSI full avg10 (/proc/pressure/memory), percent, stays above this for --pressure-duration; 0: never on PSI',
    })
    .option('pressure-duration', {
      type: 'string',
      requiresArg: true,
      default: PRESSURE_DEFAULTS.pressureDuration,
      describe: 'How long PSI must stay above --max-memory-pressure before the guard acts',
    });
}

/** The options of `status`. */
export function statusOptions(parser: Argv) {
  return parser
    .option('state-dir', { type: 'string', requiresArg: true, describe: 'State directory of the daemon [env: SCIDEX_RUN_STATE_DIR]' })
    .option('json', { type: 'boolean', describe: 'One JSON object on stdout' });
}

/** The options of the commands that sweep a state directory (`reap`, `ship`). */
function sweepOptions(parser: Argv, swept: string, item: string) {
  return parser
    .option('state-dir', { type: 'string', requiresArg: true, describe: `State directory whose ${swept} to sweep [env: SCIDEX_RUN_STATE_DIR]` })
    .option('json', { type: 'boolean', describe: `One JSON object per ${item} on stdout` })
    .option('quiet', { type: 'boolean', describe: 'Print nothing but errors' });
}

/** The options of `migrate`. */
export function migrateOptions(parser: Argv) {
  return parser.option('down', { type: 'boolean', describe: 'Undo the last migration instead' });
}

/** The options of `reap`. */
export function reapOptions(parser: Argv) {
  return sweepOptions(parser, 'markers', 'run').option('run', { type: 'string', requiresArg: true, describe: 'Only this run (UUID)' });
}

/** The options of `ship`. */
export function shipOptions(parser: Argv) {
  return sweepOptions(parser, 'journals', 'journal')
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
    });
}

/** The options of `adopt`. */
export function adoptOptions(parser: Argv) {
  return parser
    .positional('pid', { type: 'string', describe: 'The process to adopt (its owner or root only)' })
    .option('analysis-id', { type: 'string', requiresArg: true, describe: 'The analysis the run belongs to [env: SCIDEX_ANALYSIS_ID]' })
    .option('timeout', { type: 'string', requiresArg: true, describe: `Wall-clock limit, from the adoption (or, with --since-start, from the process's start); 0: none [default: ${RUN_DEFAULTS.timeout}]` })
    .option('since-start', { type: 'boolean', describe: "The timeout counts from the process's own start, not from the adoption" })
    .option('memory-limit', { type: 'string', requiresArg: true, describe: `Limit on the whole tree's PSS; 0: none [default: ${RUN_DEFAULTS.memoryLimit}]` })
    .option('grace', { type: 'string', requiresArg: true, describe: `Time between the first signal and SIGKILL [default: ${RUN_DEFAULTS.grace}]` })
    .option('kill-signal', { type: 'string', requiresArg: true, describe: `First signal of the termination sequence [default: ${RUN_DEFAULTS.killSignal}]` })
    .option('orphans', { type: 'string', requiresArg: true, describe: `What stays after the process exits: kill, wait or ignore [default: ${RUN_DEFAULTS.orphans}]` })
    .option('orphan-settle', { type: 'string', requiresArg: true, describe: `How long leftovers get to leave by themselves [default: ${RUN_DEFAULTS.orphanSettle}]` })
    .option('tracking', { type: 'string', requiresArg: true, describe: 'auto, cgroup (move the tree into a run cgroup) or pgroup (ancestry, and the group and session the process leads) [default: auto]' })
    .option('starttime', { type: 'string', requiresArg: true, describe: "The process's starttime (/proc/PID/stat field 22) as you know it: refused if the pid now names another process" })
    .option('state-dir', { type: 'string', requiresArg: true, describe: 'State directory for the journal and the marker [env: SCIDEX_RUN_STATE_DIR]' })
    .option('heartbeat-interval', { type: 'string', requiresArg: true, describe: `How often the run row is updated [default: ${RUN_DEFAULTS.heartbeatInterval}]` })
    .option('sample-interval', { type: 'string', requiresArg: true, describe: `How often the tree is sampled [default: ${RUN_DEFAULTS.sampleInterval}]` })
    .option('quiet', { type: 'boolean', describe: 'Print the run id alone, no announcement' })
    .option('supervise', { type: 'boolean', hidden: true });
}

/** The options of `release`. */
export function releaseOptions(parser: Argv) {
  return parser
    .positional('run', { type: 'string', describe: 'The adopted run (UUID)' })
    .option('reason', { type: 'string', requiresArg: true, describe: `Why (at most ${MAX_REASON} characters): recorded in the released event and the run's reason` })
    .option('state-dir', { type: 'string', requiresArg: true, describe: 'State directory of the run [env: SCIDEX_RUN_STATE_DIR]' })
    .option('json', { type: 'boolean', describe: 'One JSON object on stdout' });
}
