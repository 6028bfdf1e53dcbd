/**
 * The one place that knows every limit of a run, its default and its unit, and checks what the
 * user gave. The CLI turns argv and environment into RawRunOptions; buildRunConfig validates them.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveDatabase, type DatabaseConfig } from './database.js';
import { parseDurationMs } from './duration.js';
import { UsageError } from './errors.js';
import { parseSignal, type Signal } from './signal.js';
import { parseSizeBytes } from './size.js';
import { TRACKING_BACKENDS, type TrackingBackend } from '../track/tracker.js';

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
  /** Fastest and slowest monitoring interval; the monitor adapts between them. */
  pollMinMs: number;
  pollMaxMs: number;
  killSignal: Signal;
  preserveStatus: boolean;
  /** The tracking backend asked for; `auto` takes the strongest this host supports. */
  tracking: TrackingBackend | 'auto';
  database?: DatabaseConfig;
  stateDir: string;
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
  pollInterval: string;
  killSignal: string;
  preserveStatus: boolean;
  tracking: string;
  databaseUrl?: string;
  stateDir?: string;
  quiet: boolean;
}

/** Defaults, as the user would write them; `--help` shows these. */
export const RUN_DEFAULTS = {
  timeout: '30m',
  memoryLimit: '2GiB',
  grace: '10s',
  orphans: 'kill',
  pollInterval: '100ms..1s',
  killSignal: 'SIGTERM',
  tracking: 'auto',
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
  const graceMs = parseDurationMs(raw.grace, '--grace');
  return {
    command: raw.command,
    analysisId: validateAnalysisId(raw.analysisId),
    timeoutMs: parseDurationMs(raw.timeout, '--timeout'),
    memoryLimitBytes: parseSizeBytes(raw.memoryLimit, '--memory-limit'),
    graceMs,
    orphans: parseOrphanPolicy(raw.orphans),
    pollMinMs,
    pollMaxMs,
    killSignal: parseSignal(raw.killSignal, '--kill-signal'),
    preserveStatus: raw.preserveStatus,
    tracking: parseTracking(raw.tracking),
    database: resolveDatabase(raw.databaseUrl, env),
    stateDir: raw.stateDir ?? defaultStateDir(env),
    quiet: raw.quiet,
  };
}

function validateAnalysisId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  if (id === '') throw new UsageError('invalid --analysis-id: it is empty');
  if (id.length > MAX_ANALYSIS_ID_LENGTH) {
    throw new UsageError(`invalid --analysis-id: ${id.length} characters, at most ${MAX_ANALYSIS_ID_LENGTH}`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(id)) throw new UsageError('invalid --analysis-id: it contains control characters');
  return id;
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
  const min = parseDurationMs(parts[0], '--poll-interval');
  const max = parts.length === 2 ? parseDurationMs(parts[1], '--poll-interval') : min;
  if (min < 10 || max < min) {
    throw new UsageError(`invalid --poll-interval '${text}': at least 10ms, and the fastest first (100ms..1s)`);
  }
  return [min, max];
}

/** $XDG_STATE_HOME/scidex-run, ~/.local/state/scidex-run, or /var/lib/scidex-run for root (DESIGN section 6). */
export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (env.SCIDEX_RUN_STATE_DIR) return env.SCIDEX_RUN_STATE_DIR;
  if (process.getuid?.() === 0) return '/var/lib/scidex-run';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'scidex-run');
}
