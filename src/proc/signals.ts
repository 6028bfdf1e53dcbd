/**
 * Which signals a process catches: the SigCgt mask of /proc/PID/status (proc(5)), bit N-1 for
 * signal N. A Node process catches SIGTERM only once a handler is installed (process.on), so this
 * tells a wrapper that will cancel its run from one still starting, which SIGTERM would simply kill.
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

/**
 * Whether `pid` has a handler for `signal`.
 * @returns undefined when the process is gone or its status cannot be read
 */
export function catchesSignal(pid: number, signal: NodeJS.Signals): boolean | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(text)?.[1];
  const number = constants.signals[signal];
  if (mask === undefined || number === undefined) return undefined;
  return ((BigInt(`0x${mask}`) >> BigInt(number - 1)) & 1n) === 1n;
}
