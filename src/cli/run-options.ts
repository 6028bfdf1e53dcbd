/**
 * The options of `scidex-run`: names, environment variables and help. Both parsers read them: the
 * light one of every run (run-args.ts) and yargs, for --help, --version and every error message
 * (run-yargs.ts).
 */
import { RUN_DEFAULTS } from '../config/run-config.js';

export const PROGRAM = 'scidex-run';

/** Each option, its environment variable and its help; defaults live in RUN_DEFAULTS. */
export const OPTIONS = {
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

export const FLAGS = {
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

export const EPILOGUE = `Exit status (as timeout(1), tini and Kubernetes):
  N        the command exited with N          124  killed for the wall-clock timeout
  128+S    the command died of signal S       137  killed for the memory limit
  128+S    cancelled by signal S to us (130 for Ctrl-C)
  125      scidex-run failed or bad usage     126  command not executable   127  command not found

Signals INT, TERM, HUP, QUIT, USR1, USR2 sent to scidex-run are forwarded to every process of the run;
INT, TERM and HUP also cancel it (SIGKILL after the grace period; a second one kills at once).
The command's environment gains SCIDEX_RUN_ID (a UUID) and SCIDEX_ANALYSIS_ID.`;
