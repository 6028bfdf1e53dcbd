import { readdirSync, readFileSync } from 'node:fs';

/**
 * The children of a process: the union of /proc/PID/task/TID/children over all its threads
 * (proc(5), Linux 3.5). The file is per thread: a child forked by a non-main thread is listed only
 * in that thread's file. Returns [] when the process is gone.
 */
export function readChildren(pid: number): number[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const children: number[] = [];
  for (const tid of tids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1');
    } catch {
      continue;
    }
    for (const word of text.split(' ')) if (word !== '') children.push(Number(word));
  }
  return children;
}
