import { readFileSync } from 'node:fs';

/**
 * The argument vector of a process from /proc/PID/cmdline.
 * @returns argv; an empty array for kernel threads, zombies, or a process that is gone.
 */
export function readCmdline(pid: number): string[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return [];
  }
  if (text.endsWith('\0')) text = text.slice(0, -1);
  return text === '' ? [] : text.split('\0');
}
