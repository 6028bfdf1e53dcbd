// The options of a stress run, their defaults, and `npm run stress -- ...` argument parsing.
import { parseDurationMs } from '../../src/config/duration.js';
import { newSeed } from './random.js';

/** What a stress run does. Durations are milliseconds. */
export interface StressOptions {
  /** Runs (wrappers) in all. */
  runs: number;
  /** Most wrappers alive at once; a planned start waits for a free place. */
  concurrency: number;
  /** The window the runs' planned start times are spread over, ms. */
  durationMs: number;
  /** PRNG seed: the same seed plans the same runs and the same faults. */
  seed: number;
  /** State directories on the ordinary file system, shared by the runs (plus the full-disk one). */
  stateDirs: number;
  /** Mean time between two faults, ms (a Poisson process while runs are in progress). */
  faultGapMs: number;
  /** Sentinel processes outside the runs, which must never get a signal. */
  sentinels: number;
  /** Mount a small tmpfs as the state directory of one group of runs and fill it (root only). */
  fullDisk: boolean;
  /** The throwaway server's max_connections. */
  maxConnections: number;
  /** A wrapper still alive this long after its start is hung: reported and killed, ms. */
  hangMs: number;
  /** How long the end waits for background processes (lifeline reapers, handed-over shippers) to end by themselves, ms. */
  settleMs: number;
  /** Keep the work directory (logs, journals) instead of removing it; it is kept anyway when a violation is found. */
  keep: boolean;
  /** The SCIDEX_TEST_TAG value every process gets (a test passes its own); a fresh UUID when omitted. */
  tag?: string;
  /** Where progress lines go. */
  log: (line: string) => void;
}

/** The defaults, with `overrides` applied; the window defaults to 250 ms per run. */
export function stressOptions(overrides: Partial<StressOptions> = {}): StressOptions {
  const runs = overrides.runs ?? 300;
  return {
    runs,
    concurrency: 48,
    durationMs: runs * 250,
    seed: newSeed(),
    stateDirs: 4,
    faultGapMs: 1500,
    sentinels: 3,
    fullDisk: true,
    maxConnections: 20,
    hangMs: 120_000,
    settleMs: 120_000,
    keep: false,
    log: (line) => void process.stderr.write(`stress: ${line}\n`),
    ...overrides,
  };
}

export const USAGE = `usage: npm run stress -- [--runs 300] [--concurrency 48] [--duration 75s] [--seed N]
       [--state-dirs 4] [--fault-gap 1.5s] [--sentinels 3] [--no-full-disk] [--max-connections 20]
       [--hang 120s] [--settle 120s] [--keep] [--json]`;

/**
 * Reads `npm run stress` arguments.
 * @returns the options and whether a JSON report is wanted
 * @throws Error with a one-line message for an unknown option or a bad value
 */
export function parseStressArgs(argv: readonly string[]): { options: StressOptions; json: boolean } {
  const overrides: Partial<StressOptions> = {};
  let json = false;
  const count = (name: string, text: string | undefined, min: number): number => {
    const value = Number(text);
    if (text === undefined || !Number.isInteger(value) || value < min) throw new Error(`--${name} takes an integer >= ${min}, not ${text}`);
    return value;
  };
  const duration = (name: string, text: string | undefined): number => {
    if (text === undefined) throw new Error(`--${name} needs a duration`);
    return parseDurationMs(text, `--${name}`);
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = (): string | undefined => argv[++i];
    switch (name) {
      case '--runs': overrides.runs = count('runs', value(), 1); break;
      case '--concurrency': overrides.concurrency = count('concurrency', value(), 1); break;
      case '--duration': overrides.durationMs = duration('duration', value()); break;
      case '--seed': overrides.seed = count('seed', value(), 0) >>> 0; break;
      case '--state-dirs': overrides.stateDirs = count('state-dirs', value(), 1); break;
      case '--fault-gap': overrides.faultGapMs = Math.max(1, duration('fault-gap', value())); break;
      case '--sentinels': overrides.sentinels = count('sentinels', value(), 0); break;
      case '--no-full-disk': overrides.fullDisk = false; break;
      case '--max-connections': overrides.maxConnections = count('max-connections', value(), 5); break;
      case '--hang': overrides.hangMs = duration('hang', value()); break;
      case '--settle': overrides.settleMs = duration('settle', value()); break;
      case '--keep': overrides.keep = true; break;
      case '--json': json = true; break;
      default: throw new Error(`unknown option ${name}\n${USAGE}`);
    }
  }
  // The window follows --runs unless it was given.
  const options = stressOptions({ ...overrides, durationMs: overrides.durationMs ?? (overrides.runs ?? 300) * 250 });
  return { options, json };
}
