import { readdirSync } from 'node:fs';

/** PIDs of every process visible in /proc (thread-group leaders only; threads live under task/). */
export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const code = name.charCodeAt(0);
    if (code >= 48 && code <= 57) pids.push(Number(name));
  }
  return pids;
}
