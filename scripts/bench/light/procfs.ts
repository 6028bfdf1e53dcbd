// What /proc says of the processes the light part measures: PSS and RSS from smaps_rollup, CPU
// ticks from stat, and the split of a wrapper's direct children into its leader and its helpers.
// Every process is named by (pid, starttime), so a number reused by another process is never
// counted as ours.
import { readFileSync } from 'node:fs';
import { readChildren } from '../../../src/proc/children.js';
import { isDead, readStat } from '../../../src/proc/stat.js';
import { newFolder } from '../common/context.js';
import { start } from '../common/processes.js';

export interface Proc {
  pid: number;
  starttime: number;
}

/** Whether `proc` is still that very process and not a zombie. */
export function alive(proc: Proc): boolean {
  const stat = readStat(proc.pid);
  return stat !== undefined && stat.starttime === proc.starttime && !isDead(stat);
}

/** The identity of a live pid; undefined when it is gone. */
export function identify(pid: number | undefined): Proc | undefined {
  const stat = pid === undefined ? undefined : readStat(pid);
  return stat && !isDead(stat) ? { pid: pid!, starttime: stat.starttime } : undefined;
}

/** PSS and RSS of one process, bytes (smaps_rollup: the whole process, all mappings). */
export interface Memory {
  pssBytes: number;
  rssBytes: number;
}

/**
 * Reads /proc/PID/smaps_rollup, after checking the pid is still `proc`.
 * @returns undefined when it is gone (or a zombie, whose memory is already released)
 */
export function readMemory(proc: Proc): Memory | undefined {
  if (!alive(proc)) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${proc.pid}/smaps_rollup`, 'latin1');
  } catch {
    return undefined;
  }
  const kib = (name: string): number | undefined => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const [pss, rss] = [kib('Pss'), kib('Rss')];
  return pss === undefined || rss === undefined ? undefined : { pssBytes: pss * 1024, rssBytes: rss * 1024 };
}

/** utime + stime of `proc` (all its threads), clock ticks; undefined when it is gone or no longer that process. */
export function cpuTicks(proc: Proc): number | undefined {
  const stat = readStat(proc.pid);
  if (!stat || stat.starttime !== proc.starttime) return undefined;
  return stat.utimeTicks + stat.stimeTicks;
}

/** A wrapper's direct children: its leader (the command it runs) and the rest, its helpers (the lifeline `sh`). */
export interface WrapperTree {
  wrapper: Proc;
  leader?: Proc;
  helpers: (Proc & { comm: string })[];
}

/**
 * The children of `wrapper` now. The leader is the child whose comm is `leaderComm` (it is the
 * wrapper's own child under every backend: spawned by it, then moved into the run's cgroup).
 */
export function wrapperTree(wrapper: Proc, leaderComm: string): WrapperTree {
  const tree: WrapperTree = { wrapper, helpers: [] };
  for (const pid of readChildren(wrapper.pid)) {
    const stat = readStat(pid);
    if (!stat || isDead(stat) || stat.ppid !== wrapper.pid) continue;
    const proc = { pid, starttime: stat.starttime };
    if (stat.comm === leaderComm && tree.leader === undefined) tree.leader = proc;
    else tree.helpers.push({ ...proc, comm: stat.comm });
  }
  return tree;
}

/** PSS and RSS of a wrapper and of its helpers (not its leader), bytes; undefined when the wrapper is gone. */
export function treeMemory(tree: WrapperTree): { own: Memory; helpers: Memory } | undefined {
  const own = readMemory(tree.wrapper);
  if (!own) return undefined;
  const helpers = { pssBytes: 0, rssBytes: 0 };
  for (const helper of tree.helpers) {
    const memory = readMemory(helper);
    helpers.pssBytes += memory?.pssBytes ?? 0;
    helpers.rssBytes += memory?.rssBytes ?? 0;
  }
  return { own, helpers };
}

/** Clock ticks per second of /proc/PID/stat's utime and stime (`getconf CLK_TCK`, 100 when it cannot say). */
export async function clockTicksPerSecond(): Promise<number> {
  const result = await start('getconf', ['CLK_TCK'], newFolder('getconf'), { stdin: 'ignore', stdout: 'pipe', stderr: 'ignore' });
  return Number(String(result.stdout ?? '').trim()) || 100;
}
