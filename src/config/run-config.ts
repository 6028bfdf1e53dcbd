/**
 * The one place that knows every limit of a run, its default and its unit, and checks what the
 * user gave. The CLI turns argv and environment into RawRunOptions; buildRunConfig validates them.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveDatabase, type DatabaseConfig } from './database.js';
import { MAX_TIMER_MS, parseDurationMs } from './duration.js';
import { CONTROL_CHARACTER } from './text.js';
import { UsageError } from './errors.js';
import { parseSignal, type Signal } from './signal.js';
import { parseSizeBytes } from './size.js';

/** What drives a timer: the timeout alone is re-armed in steps, so only it may be longer. */
const TIMER = { maxMs: MAX_TIMER_MS };
import { TRACKING_BACKENDS, type TrackingBackend } from './tracking.js';

/** What happens to processes still alive when the leader exits. */
export type OrphanPolicy = 'kill' | 'wait' | 'ignore';

/** The validated configuration of one run. Durations in milliseconds, sizes in bytes; 0 disables. */
export interface RunConfig {
  command: string[];
  analysisId?: string;
  timeoutMs: number;
  memoryLimitBytes: number;
  graceMs: number;
  orphans: OrphanPolicy;
  /**
   * How long, after the leader exits, the processes still alive get to exit by themselves before
   * they count as orphans, milliseconds; ends as soon as the tree is empty. The resource trackers of
   * Python pools, loky and dask, and R's PSOCK workers, leave 1-450 ms after their main process
   * (BENCHMARKS.md, "The settle window"): the default is twice the slowest seen.
   */
  orphanSettleMs: number;
  /** Fastest and slowest monitoring interval; the monitor adapts between them. */
  pollMinMs: number;
  pollMaxMs: number;
  killSignal: Signal;
  preserveStatus: boolean;
  /** The tracking backend asked for; `auto` takes the strongest this host supports. */
  tracking: TrackingBackend | 'auto';
  database?: DatabaseConfig;
  stateDir: string;
  /** How often a sample of the tree goes to watchdog_samples (a new peak of RSS adds one); 0: none. */
  sampleIntervalMs: number;
  /** How often a running run re-journals its row (heartbeat_at) and ships what waits; 0: never. */
  heartbeatIntervalMs: number;
  /** How long a journal stays on disk once all of it is in PostgreSQL; unshipped ones stay for ever. */
  journalRetentionMs: number;
  /** Prometheus Pushgateway to push the run's final metrics to (an http or https URL), if any. */
  pushgatewayUrl?: string;
  quiet: boolean;
}

/** Options as strings, the way they arrive from argv or the environment. */
export interface RawRunOptions {
  command: string[];
  analysisId?: string;
  timeout: string;
  memoryLimit: string;
  grace: string;
  orphans: string;
  orphanSettle: string;
  pollInterval: string;
  killSignal: string;
  preserveStatus: boolean;
  tracking: string;
  databaseUrl?: string;
  stateDir?: string;
  sampleInterval: string;
  heartbeatInterval: string;
  journalRetention: string;
  pushgateway?: string;
  quiet: boolean;
}

/** Defaults, as the user would write them; `--help` shows these. */
export const RUN_DEFAULTS = {
  timeout: '30m',
  memoryLimit: '2GiB',
  grace: '10s',
  orphans: 'kill',
  orphanSettle: '1s',
  pollInterval: '100ms..1s',
  killSignal: 'SIGTERM',
  tracking: 'auto',
  sampleInterval: '10s',
  heartbeatInterval: '60s',
  journalRetention: '7d',
} as const;

const MAX_ANALYSIS_ID_LENGTH = 256;

/**
 * Validates raw options into a RunConfig.
 * @throws UsageError naming the first problem found
 */
export function buildRunConfig(raw: RawRunOptions, env: NodeJS.ProcessEnv): RunConfig {
  if (raw.command.length === 0 || raw.command[0] === '') {
    throw new UsageError('missing command: give it after --, as in: scidex-run --analysis-id X -- python analyze.py');
  }
  const [pollMinMs, pollMaxMs] = parsePollInterval(raw.pollInterval);
  const graceMs = parseDurationMs(raw.grace, '--grace', TIMER);
  return {
    command: raw.command,
    analysisId: validateAnalysisId(raw.analysisId),
    timeoutMs: parseDurationMs(raw.timeout, '--timeout'),
    memoryLimitBytes: parseSizeBytes(raw.memoryLimit, '--memory-limit'),
    graceMs,
    orphans: parseOrphanPolicy(raw.orphans),
    orphanSettleMs: parseDurationMs(raw.orphanSettle, '--orphan-settle', TIMER),
    pollMinMs,
    pollMaxMs,
    killSignal: parseSignal(raw.killSignal, '--kill-signal'),
    preserveStatus: raw.preserveStatus,
    tracking: parseTracking(raw.tracking),
    database: resolveDatabase(raw.databaseUrl, env),
    stateDir: raw.stateDir ?? defaultStateDir(env),
    sampleIntervalMs: parseDurationMs(raw.sampleInterval, '--sample-interval', TIMER),
    heartbeatIntervalMs: parseDurationMs(raw.heartbeatInterval, '--heartbeat-interval', TIMER),
    journalRetentionMs: parseDurationMs(raw.journalRetention, '--journal-retention'),
    pushgatewayUrl: parsePushgatewayUrl(raw.pushgateway),
    quiet: raw.quiet,
  };
}

function validateAnalysisId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const problem = analysisIdProblem(id);
  if (problem !== null) throw new UsageError(`invalid --analysis-id: ${problem}`);
  return id;
}

/**
 * What is wrong with an analysis id (`--analysis-id`, or the fleet view's `analysis_id` filter),
 * in words that follow "invalid --analysis-id: "; null when nothing is. An id is 1 to
 * MAX_ANALYSIS_ID_LENGTH characters (code points, as PostgreSQL's char_length counts them, not
 * UTF-16 units) with no control character (a NUL is refused by PostgreSQL's text).
 */
export function analysisIdProblem(id: string): string | null {
  if (id === '') return 'it is empty';
  const characters = [...id].length;
  if (characters > MAX_ANALYSIS_ID_LENGTH) return `${characters} characters, at most ${MAX_ANALYSIS_ID_LENGTH}`;
  if (CONTROL_CHARACTER.test(id)) return 'it contains control characters';
  return null;
}

/** An http or https URL with a host; anything else is bad input (a push would only fail at the end). */
function parsePushgatewayUrl(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`invalid --pushgateway '${text}': expected an http:// or https:// URL, as in http://pushgateway:9091`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new UsageError(`invalid --pushgateway '${url.protocol}//...': expected an http:// or https:// URL, as in http://pushgateway:9091`);
  }
  return text;
}

function parseOrphanPolicy(text: string): OrphanPolicy {
  if (text === 'kill' || text === 'wait' || text === 'ignore') return text;
  throw new UsageError(`invalid --orphans '${text}': expected kill, wait or ignore`);
}

function parseTracking(text: string): TrackingBackend | 'auto' {
  if (text === 'auto') return text;
  const backend = TRACKING_BACKENDS.find((name) => name === text);
  if (backend) return backend;
  throw new UsageError(`invalid --tracking '${text}': expected auto, ${TRACKING_BACKENDS.join(', ')}`);
}

/** `1s` is a fixed interval; `100ms..1s` lets the monitor adapt between the two. */
function parsePollInterval(text: string): [number, number] {
  const parts = text.split('..');
  if (parts.length > 2) throw new UsageError(`invalid --poll-interval '${text}': expected 1s or 100ms..1s`);
  const min = parseDurationMs(parts[0], '--poll-interval', TIMER);
  const max = parts.length === 2 ? parseDurationMs(parts[1], '--poll-interval', TIMER) : min;
  if (min < 10 || max < min) {
    throw new UsageError(`invalid --poll-interval '${text}': at least 10ms, and the fastest first (100ms..1s)`);
  }
  return [min, max];
}

/** $XDG_STATE_HOME/scidex-run, ~/.local/state/scidex-run, or /var/lib/scidex-run for root (docs/design.md §6). */
export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (env.SCIDEX_RUN_STATE_DIR) return env.SCIDEX_RUN_STATE_DIR;
  if (process.getuid?.() === 0) return '/var/lib/scidex-run';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'scidex-run');
}
