import { closeSync, openSync, readFileSync } from 'node:fs';

/**
 * Whether /proc/PID/environ holds the exact entry `NAME=VALUE`.
 *
 * environ shows the environment the process was exec'd with (proc(5)); later setenv() calls do
 * not change it, and it is readable only by the owner (ptrace access mode read) or root.
 * @returns true or false; false too when the process is gone or its environ is unreadable.
 */
export function hasEnvEntry(pid: number, entry: string): boolean {
  let raw: Buffer;
  try {
    raw = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return false;
  }
  const needle = Buffer.from(entry + '\0');
  const at = raw.indexOf(needle);
  return at === 0 || (at > 0 && raw[at - 1] === 0);
}

/**
 * Whether this process may read /proc/PID/environ: the same user, or CAP_SYS_PTRACE (ptrace access
 * mode PTRACE_MODE_READ_FSCREDS, proc(5)). False too when the process is gone.
 */
export function environReadable(pid: number): boolean {
  try {
    // The ptrace check is made at open(2), not by the file's mode, so access(2) cannot answer this.
    closeSync(openSync(`/proc/${pid}/environ`, 'r'));
    return true;
  } catch {
    return false;
  }
}

/**
 * The value of `name` in the exec-time environment of `pid` (/proc/PID/environ, see hasEnvEntry).
 * @returns undefined when it has no such entry, is gone, or its environ is unreadable
 */
export function envValue(pid: number, name: string): string | undefined {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return undefined;
  }
  const entry = raw.split('\0').find((line) => line.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}
