/**
 * /proc/PID/status, the one reader of it: a field's value as the kernel prints it (proc(5):
 * `Name:\tvalue`, tabs and spaces between the words of a multi-word value such as Uid).
 */
import { readFileSync } from 'node:fs';

/**
 * The value of field `name` (`SigCgt`, `Uid`, ...) of /proc/PID/status, trimmed.
 * @returns undefined when the process is gone, its status cannot be read, or it has no such field
 */
export function statusField(pid: number, name: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1].trim();
}
