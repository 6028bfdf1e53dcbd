/**
 * The daemon's memory-pressure guard. When the host runs short of memory, the kernel's OOM killer
 * picks its victim by its own rules (the largest oom_score: often PostgreSQL, the API or this daemon).
 * The guard acts first: it stops the run of this host with the largest tree PSS through its wrapper
 * (pressure-stop.ts), as out of memory, reason `host_pressure`.
 *
 * When it acts (PressureTrigger):
 *   - MemAvailable (/proc/meminfo) below --min-available: at once. The kernel's own estimate of what
 *     new work can still get without swapping; below a few per cent of MemTotal, reclaim thrashes
 *     the page cache and the OOM killer is near.
 *   - PSI `full avg10` (/proc/pressure/memory) above --max-memory-pressure for --pressure-duration:
 *     every task stalled on memory that share of the time. A burst (a big allocation the kernel
 *     meets by reclaiming cache) is not acted on; a host that stays stalled is.
 * One victim per round, then the figures are read again: MemAvailable at once, PSI only after a
 * whole --pressure-duration more above the threshold (its 10 s average lags what was freed, and two
 * victims for one shortage would be one too many).
 *
 * How often it reads (nextReadDelay): every --interval, at most 1 s apart; every 100 ms while
 * either figure is within 10 % of its threshold, PSI is being held above it, or MemAvailable falls
 * fast enough to cross within two base periods. Each reading is two small /proc files (tens of µs).
 * The guard runs beside the sweeps, not inside them: a sweep may wait out a lost run's grace period,
 * and the host's memory cannot wait for it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describePressureGuard, minAvailableBytes, type PressureGuardConfig } from '../config/pressure.js';
import { formatSize } from '../config/size.js';
import { formatDuration } from '../config/duration.js';
import { readMemoryPressure, readMeminfo } from '../proc/host-memory.js';
import type { DatabaseConfig } from '../config/database.js';
import { repeatLimited } from './repeat-limit.js';
import { stopForPressure, type GuardStop } from './pressure-stop.js';

/** The thresholds in force, resolved against MemTotal. */
export interface GuardSettings {
  minAvailableBytes: number;
  /** Percent; 0: PSI is not acted on. */
  maxMemoryPressure: number;
  pressureDurationMs: number;
}

/** One reading of the host's memory. */
export interface HostReading {
  /** Date.now() of the reading. */
  atMs: number;
  memAvailableBytes: number;
  memTotalBytes: number;
  /** PSI full avg10, percent; null where the kernel has no PSI. */
  psiFullAvg10: number | null;
}

/** A threshold crossed: the guard must act now. */
export interface Crossing {
  threshold: 'min_available' | 'memory_pressure';
  /** When the guard first saw it crossed (for PSI: the start of the hold), Date.now() milliseconds. */
  crossedAtMs: number;
  reading: HostReading;
}

/** The fastest reading period, near a threshold, milliseconds. */
export const NEAR_READ_MS = 100;
/** The slowest reading period, milliseconds (also bounded by the sweep interval). */
export const FAR_READ_MS = 1000;
/** How close to a threshold counts as near: within this share of it. */
const NEAR_SHARE = 0.1;

/** The hysteresis of the guard's decision (module comment); pure, for the tests. */
export class PressureTrigger {
  private lowSinceMs: number | undefined;
  private highSinceMs: number | undefined;

  constructor(private readonly settings: GuardSettings) {}

  /** Takes one reading. @returns the crossing when the guard must act now */
  observe(reading: HostReading): Crossing | undefined {
    const { minAvailableBytes, maxMemoryPressure, pressureDurationMs } = this.settings;
    const low = reading.memAvailableBytes < minAvailableBytes;
    const high = maxMemoryPressure > 0 && reading.psiFullAvg10 !== null && reading.psiFullAvg10 > maxMemoryPressure;
    this.lowSinceMs = low ? (this.lowSinceMs ?? reading.atMs) : undefined;
    this.highSinceMs = high ? (this.highSinceMs ?? reading.atMs) : undefined;
    if (this.lowSinceMs !== undefined) return { threshold: 'min_available', crossedAtMs: this.lowSinceMs, reading };
    if (this.highSinceMs !== undefined && reading.atMs - this.highSinceMs >= pressureDurationMs) {
      return { threshold: 'memory_pressure', crossedAtMs: this.highSinceMs, reading };
    }
    return undefined;
  }

  /** After a victim: PSI must be held above its threshold a whole duration again; MemAvailable is judged afresh. */
  rearm(nowMs: number): void {
    if (this.highSinceMs !== undefined) this.highSinceMs = nowMs;
    this.lowSinceMs = undefined;
  }

  /** Whether a reading is near a threshold (module comment): the guard then reads every NEAR_READ_MS. */
  near(reading: HostReading): boolean {
    const { minAvailableBytes, maxMemoryPressure } = this.settings;
    if (reading.memAvailableBytes < minAvailableBytes * (1 + NEAR_SHARE)) return true;
    if (this.highSinceMs !== undefined) return true;
    return maxMemoryPressure > 0 && reading.psiFullAvg10 !== null && reading.psiFullAvg10 >= maxMemoryPressure * (1 - NEAR_SHARE);
  }
}

/**
 * The delay before the next reading, milliseconds: NEAR_READ_MS near a threshold; else half the time
 * MemAvailable would take to reach its floor at the rate it fell since `previous`, within
 * [NEAR_READ_MS, baseMs]; else baseMs.
 */
export function nextReadDelay(trigger: PressureTrigger, settings: GuardSettings, reading: HostReading, previous: HostReading | undefined, baseMs: number): number {
  if (trigger.near(reading)) return NEAR_READ_MS;
  if (!previous) return baseMs;
  const elapsedMs = reading.atMs - previous.atMs;
  const fallen = previous.memAvailableBytes - reading.memAvailableBytes;
  if (elapsedMs <= 0 || fallen <= 0) return baseMs;
  const untilFloorMs = ((reading.memAvailableBytes - settings.minAvailableBytes) / fallen) * elapsedMs;
  return Math.round(Math.min(baseMs, Math.max(NEAR_READ_MS, untilFloorMs / 2)));
}

/** Reads the host's figures now; undefined when /proc/meminfo cannot be read. */
export function readHost(): HostReading | undefined {
  const info = readMeminfo();
  if (!info) return undefined;
  return { atMs: Date.now(), ...info, psiFullAvg10: readMemoryPressure()?.fullAvg10 ?? null };
}

/** The guard as /status shows it (status-body.ts PressureGuardStatus). */
export interface GuardView {
  enabled: boolean;
  settings: GuardSettings;
  reading: HostReading | undefined;
  near: boolean;
  stops: number;
  lastStop: GuardStop | undefined;
}

export interface PressureGuardOptions {
  stateDir: string;
  database?: DatabaseConfig;
  config: PressureGuardConfig;
  /** The sweep interval: the guard reads at least this often, and at least once a second. */
  intervalMs: number;
  log(line: string): void;
  /** Told of each stop (metrics). */
  onStop?(stop: GuardStop): void;
}

/** The guard's loop; run() until stop(). */
export class PressureGuard {
  readonly settings: GuardSettings;
  private readonly trigger: PressureTrigger;
  private stopping = false;
  private wake: (() => void) | undefined;
  private reading: HostReading | undefined;
  private lastStop: GuardStop | undefined;
  private stops = 0;
  private readonly quietLine = repeatLimited((line) => this.options.log(line));
  /** Runs asked to stop, by id, with when: not chosen again while their wrapper lives (pressure-stop.ts). */
  private readonly asked = new Map<string, number>();

  constructor(private readonly options: PressureGuardOptions) {
    const total = readMeminfo()?.memTotalBytes ?? 0;
    this.settings = {
      minAvailableBytes: minAvailableBytes(options.config, total),
      maxMemoryPressure: options.config.maxMemoryPressure,
      pressureDurationMs: options.config.pressureDurationMs,
    };
    this.trigger = new PressureTrigger(this.settings);
    this.reading = options.config.enabled ? readHost() : undefined;
  }

  /** The settings in words, for the daemon's first line. */
  describe(): string {
    return describePressureGuard(this.options.config, this.settings.minAvailableBytes);
  }

  view(): GuardView {
    const reading = this.options.config.enabled ? this.reading : readHost();
    return {
      enabled: this.options.config.enabled,
      settings: this.settings,
      reading,
      near: this.options.config.enabled && reading !== undefined && this.trigger.near(reading),
      stops: this.stops,
      lastStop: this.lastStop,
    };
  }

  /** Reads and acts until stop(); never rejects. Returns at once when the guard is off. */
  async run(): Promise<void> {
    if (!this.options.config.enabled) return;
    const baseMs = Math.max(NEAR_READ_MS, Math.min(FAR_READ_MS, this.options.intervalMs));
    let previous: HostReading | undefined;
    while (!this.stopping) {
      let delayMs = baseMs;
      try {
        const reading = readHost();
        if (!reading) {
          this.quietLine('pressure guard: /proc/meminfo cannot be read; the guard waits');
        } else {
          this.reading = reading;
          const crossing = this.trigger.observe(reading);
          if (crossing) {
            const stopped = await this.act(crossing);
            this.trigger.rearm(Date.now());
            previous = undefined;
            // One victim, then read again at once; nothing to stop: read again soon, the shortage may pass.
            delayMs = stopped ? 0 : NEAR_READ_MS;
          } else {
            delayMs = nextReadDelay(this.trigger, this.settings, reading, previous, baseMs);
            previous = reading;
          }
        }
      } catch (error) {
        this.quietLine(`pressure guard: ${(error as Error).message ?? error}`);
      }
      if (this.stopping) break;
      if (delayMs > 0) await this.sleep(delayMs);
    }
  }

  /** Asks the loop to end after the round under way. */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  private async sleep(ms: number): Promise<void> {
    const controller = new AbortController();
    this.wake = () => controller.abort();
    await sleep(ms, undefined, { signal: controller.signal }).catch(() => undefined);
    this.wake = undefined;
  }

  /** One round: stops one run when there is one to stop. @returns whether a run was stopped (or ended meanwhile) */
  private async act(crossing: Crossing): Promise<boolean> {
    const stop = await stopForPressure(crossing, this.settings, {
      stateDir: this.options.stateDir,
      database: this.options.database,
      asked: this.asked,
      log: this.options.log,
    });
    if (!stop) {
      // The same words while the shortage lasts (repeatLimited): no figure that changes at every reading.
      const what =
        crossing.threshold === 'min_available'
          ? `MemAvailable below ${formatSize(this.settings.minAvailableBytes)}`
          : `PSI full avg10 above ${this.settings.maxMemoryPressure}% for ${formatDuration(this.settings.pressureDurationMs)}`;
      this.quietLine(`host memory pressure (${what}), but no run of this host to stop`);
      return false;
    }
    this.quietLine.clear();
    this.stops += 1;
    this.lastStop = stop;
    this.options.onStop?.(stop);
    return true;
  }
}
