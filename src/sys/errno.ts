/**
 * errno numbers to their names (ESRCH, EPERM, ...), from Node's table for this platform
 * (os.constants.errno, errno(3)). Where two names share a number (EAGAIN and EWOULDBLOCK on Linux),
 * the one Node lists last wins.
 */
import { constants } from 'node:os';

const NAMES = new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]));

/** The name of errno `errno` (a positive number), or `errno N` for one Node does not know. */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `errno ${errno}`;
}
