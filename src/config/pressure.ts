/**
 * The options of the daemon's memory-pressure guard (`scidex-watchdog serve`, watchdog/pressure-guard.ts):
 * when the host runs short of memory, it stops the run of this host with the largest tree PSS
 * before the kernel's OOM killer picks a victim of its own (PostgreSQL, the API, the daemon).
 *
 *   --pressure-guard on|off        whether it acts at all (default on)
 *   --min-available SIZE|N%        MemAvailable below this acts at once (default 5% of MemTotal)
 *   --max-memory-pressure PERCENT  PSI `full avg10` above this ... (default 40)
 *   --pressure-duration D          ... held this long acts (default 10s)
 */
import { formatDuration, parseDurationMs } from './duration.js';
import { UsageError } from './errors.js';
import { formatSize, parseSizeBytes } from './size.js';

export const PRESSURE_DEFAULTS = {
  guard: 'on',
  minAvailable: '5%',
  maxMemoryPressure: '40',
  pressureDuration: '10s',
} as const;

/** The longest --pressure-duration: PSI's longest average is avg300, 5 minutes. */
const MAX_PRESSURE_DURATION_MS = 3600_000;

/** --min-available: a size, or a share of MemTotal resolved when the daemon starts. */
export type MinAvailable = { bytes: number } | { percentOfTotal: number };

/** The guard's settings, as parsed; `enabled: false` for --pressure-guard off. */
export interface PressureGuardConfig {
  enabled: boolean;
  minAvailable: MinAvailable;
  /** PSI `full avg10`, percent (0 < x <= 100); 0 turns the PSI trigger off. */
  maxMemoryPressure: number;
  /** How long PSI must stay above maxMemoryPressure, milliseconds. */
  pressureDurationMs: number;
}

/**
 * A percentage: `40`, `40%`, `12.5`.
 * @throws UsageError for anything else, or one outside [0, 100]
 */
export function parsePercent(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*%?\s*$/.exec(text);
  const value = match ? Number(match[1]) : Number.NaN;
  if (!Number.isFinite(value)) throw new UsageError(`invalid ${what} '${text}': expected a percentage such as 40 or 12.5%`);
  if (value > 100) throw new UsageError(`invalid ${what} '${text}': at most 100`);
  return value;
}

/**
 * Reads the guard's options.
 * @throws UsageError for a value that is not what its option takes (the daemon then exits 125)
 */
export function parsePressureGuard(args: { pressureGuard?: string; minAvailable?: string; maxMemoryPressure?: string; pressureDuration?: string }): PressureGuardConfig {
  const guard = (args.pressureGuard ?? PRESSURE_DEFAULTS.guard).trim().toLowerCase();
  if (guard !== 'on' && guard !== 'off') throw new UsageError(`invalid --pressure-guard '${args.pressureGuard}': expected on or off`);
  const minText = args.minAvailable ?? PRESSURE_DEFAULTS.minAvailable;
  let minAvailable: MinAvailable;
  if (minText.trim().endsWith('%')) {
    const percent = parsePercent(minText, '--min-available');
    if (percent >= 100) throw new UsageError(`invalid --min-available '${minText}': a share of MemTotal below 100%`);
    minAvailable = { percentOfTotal: percent };
  } else {
    minAvailable = { bytes: parseSizeBytes(minText, '--min-available') };
  }
  const maxMemoryPressure = parsePercent(args.maxMemoryPressure ?? PRESSURE_DEFAULTS.maxMemoryPressure, '--max-memory-pressure');
  const pressureDurationMs = parseDurationMs(args.pressureDuration ?? PRESSURE_DEFAULTS.pressureDuration, '--pressure-duration', { maxMs: MAX_PRESSURE_DURATION_MS });
  return { enabled: guard === 'on', minAvailable, maxMemoryPressure, pressureDurationMs };
}

/** The floor in bytes for a host of `memTotalBytes`. */
export function minAvailableBytes(config: Pick<PressureGuardConfig, 'minAvailable'>, memTotalBytes: number): number {
  const min = config.minAvailable;
  return 'bytes' in min ? min.bytes : Math.round((memTotalBytes * min.percentOfTotal) / 100);
}

/** The settings in words, for the daemon's first line. */
export function describePressureGuard(config: PressureGuardConfig, floorBytes: number): string {
  if (!config.enabled) return 'pressure guard off';
  const psi = config.maxMemoryPressure > 0 ? `, or PSI full avg10 above ${config.maxMemoryPressure}% for ${formatDuration(config.pressureDurationMs)}` : '';
  return `pressure guard: MemAvailable below ${formatSize(floorBytes)}${psi}`;
}
