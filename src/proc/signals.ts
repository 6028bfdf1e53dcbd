/**
 * What a process does with a signal: the SigCgt (caught) and SigIgn (ignored) masks of
 * /proc/PID/status (proc(5)), bit N-1 for signal N. A Node process catches SIGTERM only once a
 * handler is installed (process.on), so this tells a wrapper that will cancel its run from one still
 * starting, which SIGTERM would simply kill.
 */
import { constants } from 'node:os';
import { statusField } from './status.js';

/**
 * Whether `pid` has a handler for `signal`.
 * @returns undefined when the process is gone or its status cannot be read
 */
export function catchesSignal(pid: number, signal: NodeJS.Signals): boolean | undefined {
  return inMask(pid, 'SigCgt', signal);
}

/**
 * Whether `pid` ignores `signal` (SIG_IGN, as `trap '' TERM` sets it).
 * @returns undefined when the process is gone or its status cannot be read
 */
export function ignoresSignal(pid: number, signal: NodeJS.Signals): boolean | undefined {
  return inMask(pid, 'SigIgn', signal);
}

function inMask(pid: number, field: 'SigCgt' | 'SigIgn', signal: NodeJS.Signals): boolean | undefined {
  const mask = statusField(pid, field);
  const number = constants.signals[signal];
  if (mask === undefined || !/^[0-9a-f]+$/.test(mask) || number === undefined) return undefined;
  return ((BigInt(`0x${mask}`) >> BigInt(number - 1)) & 1n) === 1n;
}
