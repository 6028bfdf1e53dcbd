// CPU time of the children this process has waited for: getrusage(RUSAGE_CHILDREN) through koffi
// (the product's optional FFI dependency, loaded by the product's one loader, src/sys/koffi.ts), with microsecond resolution. Node exposes only its own
// usage (process.resourceUsage), and `/usr/bin/time` prints centiseconds, too coarse for `true`.
//
// Why it is exact for one command: the kernel adds a child's user and system time, and those of
// every descendant it waited for, to its parent's RUSAGE_CHILDREN when the parent reaps it. The
// start-up measure runs one command at a time and reads the counter before the spawn and after
// Node has reaped it, so the difference is that command plus the helpers it reaped itself. A helper
// that outlives its parent re-parents to init and is not counted (the report says so).
import { errnoName } from '../../../src/sys/errno.js';
import { koffi as loadKoffi, koffiUnavailable } from '../../../src/sys/koffi.js';

/** getrusage(2) `who`: the terminated and waited-for children of the caller. */
const RUSAGE_CHILDREN = -1;
/** struct rusage on 64-bit Linux: two struct timeval (2 longs each) then 14 longs. */
const RUSAGE_BYTES = 18 * 8;

/** User and system CPU time, ms. */
export interface CpuMs {
  userMs: number;
  sysMs: number;
}

type Reader = () => CpuMs;
let reader: Reader | null | undefined;
let why = '';

/** Why `childrenCpu` is unavailable; empty when it is available. */
export function childrenCpuUnavailable(): string {
  childrenCpu();
  return why;
}

/** The accumulated CPU of our reaped children, or undefined when koffi or getrusage cannot be used here. */
export function childrenCpu(): CpuMs | undefined {
  if (reader === undefined) reader = load();
  return reader?.();
}

function load(): Reader | null {
  if (process.arch !== 'x64' && process.arch !== 'arm64') {
    why = `struct rusage layout assumed for 64-bit Linux, this is ${process.arch}`;
    return null;
  }
  const koffi = loadKoffi();
  if (!koffi) {
    why = koffiUnavailable();
    return null;
  }
  try {
    const getrusage = koffi.load('libc.so.6').func('int getrusage(int, void *)');
    const read: Reader = () => {
      const buffer = Buffer.alloc(RUSAGE_BYTES);
      if (getrusage(RUSAGE_CHILDREN, buffer) !== 0) throw new Error(`getrusage failed: ${errnoName(koffi.errno())}`);
      const timevalMs = (at: number): number => Number(buffer.readBigInt64LE(at)) * 1000 + Number(buffer.readBigInt64LE(at + 8)) / 1000;
      return { userMs: timevalMs(0), sysMs: timevalMs(16) };
    };
    read();
    return read;
  } catch (error) {
    why = `getrusage(RUSAGE_CHILDREN) through koffi failed: ${(error as Error).message.split('\n')[0]}`;
    return null;
  }
}
