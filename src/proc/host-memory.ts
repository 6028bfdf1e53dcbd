/**
 * The host's memory as the kernel tells it: `MemTotal` and `MemAvailable` of /proc/meminfo
 * (proc(5)), and the memory line of Pressure Stall Information, /proc/pressure/memory (Linux >= 4.20,
 * Documentation/accounting/psi.rst). Each read is one small file: tens of microseconds, cheap enough
 * for the pressure guard to read every 100 ms while the host is near a threshold.
 *
 * MemAvailable is the kernel's estimate of how much memory can be had for new work without swapping:
 * free memory plus the page cache and reclaimable slab it could drop. PSI `full` is the share of wall
 * time in which every non-idle task was stalled waiting for memory at once (reclaim, refaults): the
 * host doing no work at all for want of memory. `avg10` is its running average over 10 s, in percent.
 */
import { readFileSync } from 'node:fs';

/** The two figures of /proc/meminfo the guard needs, bytes. */
export interface MemInfo {
  memTotalBytes: number;
  memAvailableBytes: number;
}

/** /proc/pressure/memory, percentages of wall time (0-100). */
export interface MemoryPressure {
  someAvg10: number;
  fullAvg10: number;
}

/**
 * Parses the text of /proc/meminfo.
 * @returns undefined when MemTotal or MemAvailable is missing (a kernel older than 3.14 has no MemAvailable)
 */
export function parseMeminfo(text: string): MemInfo | undefined {
  const field = (name: string): number | undefined => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const memTotalBytes = field('MemTotal');
  const memAvailableBytes = field('MemAvailable');
  if (memTotalBytes === undefined || memAvailableBytes === undefined) return undefined;
  return { memTotalBytes, memAvailableBytes };
}

/** Reads /proc/meminfo; undefined when it cannot be read or lacks the fields. */
export function readMeminfo(): MemInfo | undefined {
  try {
    return parseMeminfo(readFileSync('/proc/meminfo', 'latin1'));
  } catch {
    return undefined;
  }
}

/**
 * Parses the text of /proc/pressure/memory: `some avg10=0.00 avg60=... total=...` and the same for
 * `full`.
 * @returns undefined when either line is missing
 */
export function parseMemoryPressure(text: string): MemoryPressure | undefined {
  const avg10 = (line: 'some' | 'full'): number | undefined => {
    const match = new RegExp(`^${line} avg10=(\\d+(?:\\.\\d+)?)\\b`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const someAvg10 = avg10('some');
  const fullAvg10 = avg10('full');
  if (someAvg10 === undefined || fullAvg10 === undefined) return undefined;
  return { someAvg10, fullAvg10 };
}

/**
 * Reads /proc/pressure/memory.
 * @returns undefined where the kernel has no PSI (older than 4.20, built without CONFIG_PSI, or booted
 *          with psi=0: then the file is missing or reading it fails with EOPNOTSUPP)
 */
export function readMemoryPressure(): MemoryPressure | undefined {
  try {
    return parseMemoryPressure(readFileSync('/proc/pressure/memory', 'latin1'));
  } catch {
    return undefined;
  }
}
