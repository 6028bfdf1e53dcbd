/**
 * Host-wide facts the readers need to turn /proc numbers into units.
 */
import { readFileSync, readlinkSync } from 'node:fs';

/**
 * Clock ticks per second (USER_HZ) in which /proc reports times.
 * It is 100 on every Linux ABI Node runs on: the kernel exports USER_HZ, not its internal HZ
 * (see time(7), "The software clock, HZ, and jiffies"; getconf CLK_TCK prints it).
 */
export const CLOCK_TICKS_PER_SECOND = 100;

const AT_PAGESZ = 6n;
let pageSize: number | undefined;

/** Page size in bytes, from the AT_PAGESZ entry of our own ELF auxiliary vector (getauxval(3)). */
export function pageSizeBytes(): number {
  if (pageSize !== undefined) return pageSize;
  const auxv = readFileSync('/proc/self/auxv');
  for (let at = 0; at + 16 <= auxv.length; at += 16) {
    if (auxv.readBigUInt64LE(at) === AT_PAGESZ) return (pageSize = Number(auxv.readBigUInt64LE(at + 8)));
  }
  return (pageSize = 4096);
}

/**
 * The kernel's boot id (random per boot, /proc/sys/kernel/random/boot_id): with the host name it
 * identifies one boot of one host, so a record from before a reboot cannot name a live process.
 */
export function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
}

/**
 * Whether /proc shows this process's own PID namespace: /proc/self must name our pid. It does not
 * after `unshare --pid --fork` without `--mount-proc`, and then every /proc/PID we read would be
 * another process (/proc/1 the host's init, not us).
 */
export function procMatchesOurPidNamespace(): boolean {
  try {
    return readlinkSync('/proc/self') === String(process.pid);
  } catch {
    return false;
  }
}

/**
 * The PID namespace of this process, as the kernel names it (`pid:[4026531836]`, the target of
 * /proc/self/ns/pid, namespaces(7)); null when it cannot be read. Hostname and boot id do not tell a
 * container sharing the host's network and kernel from the host: its pids mean other processes.
 */
export function pidNamespace(): string | null {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
}

/**
 * The initial PID namespace's inode: PROC_PID_INIT_INO (0xEFFFFFFC) in include/linux/proc_ns.h, fixed
 * since Linux 3.8, so `/proc/self/ns/pid` reads `pid:[4026531836]` there on every host.
 */
const INITIAL_PID_NAMESPACE = 'pid:[4026531836]';

/** Whether this process runs in the initial PID namespace, where every process of the host has a pid it can see. */
export function inInitialPidNamespace(): boolean {
  return pidNamespace() === INITIAL_PID_NAMESPACE && procMatchesOurPidNamespace();
}

/** Time since boot, milliseconds (/proc/uptime, to the hundredth of a second), the clock of stat's starttime. */
export function uptimeMs(): number {
  return Math.round(Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]) * 1000);
}

/** How long ago the process of `starttime` (clock ticks after boot, proc(5) stat field 22) started, milliseconds. */
export function processAgeMs(starttime: number): number {
  return Math.max(0, uptimeMs() - Math.round((starttime * 1000) / CLOCK_TICKS_PER_SECOND));
}
