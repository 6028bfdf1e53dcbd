// Which processes are ours, which survived, and how they are killed: always by (pid, starttime).
//
// A pid alone can be reused, so a process is named by its pid and starttime and counted alive only
// while /proc shows both and it is not a zombie. Ours are those in a pidfile (the zoo writes one line
// per process, even after clearing its environment) plus any live process carrying the bench tag.
// Nothing is killed by name or by group here: every signal goes through src/terminate/guard (pidfds).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readCmdline } from '../../../src/proc/cmdline.js';
import { hasEnvEntry } from '../../../src/proc/environ.js';
import { listPids } from '../../../src/proc/list.js';
import { isDead, readStat } from '../../../src/proc/stat.js';
import { reapAdoptedZombies } from '../../../src/supervise/adopted.js';
import { memberKey } from '../../../src/track/member.js';
import { signalMember } from '../../../src/terminate/guard.js';
import { TAG, WORK } from './context.js';
import { ZOO } from './zoo.js';

export interface Proc {
  pid: number;
  starttime: number;
}

/** A process's identity, as a map key. */
export const keyOf = (proc: Proc): string => `${proc.pid}:${proc.starttime}`;
const unique = (procs: Iterable<Proc>): Proc[] => [...new Map([...procs].map((proc) => [keyOf(proc), proc] as const)).values()];

/** Every pidfile made, for the final check. */
export const pidfiles: string[] = [];
/** Run ids of every run started (in process and through the CLI), to check their cgroups are gone. */
export const runIds = new Set<string>();
export function newPidfile(label: string): string {
  const path = join(WORK, `${String(pidfiles.length + 1).padStart(3, '0')}-${label.replace(/[^a-z0-9]+/gi, '_')}.pids`);
  pidfiles.push(path);
  return path;
}

/** The complete `<pid> <starttime>` lines of a pidfile (a line being written is skipped). */
export function entries(pidfile: string): Proc[] {
  let text: string;
  try {
    text = readFileSync(pidfile, 'latin1');
  } catch {
    return [];
  }
  const out: Proc[] = [];
  // The last element is '' after a final newline, or a line still being written: skipped either way.
  for (const line of text.split('\n').slice(0, -1)) {
    const match = /^(\d+) (\d+)$/.exec(line);
    if (match) out.push({ pid: Number(match[1]), starttime: Number(match[2]) });
  }
  return out;
}

/** Alive = the pid shows the same starttime and is not a zombie. */
export function isAlive(proc: Proc): boolean {
  const stat = readStat(proc.pid);
  return stat !== undefined && stat.starttime === proc.starttime && !isDead(stat);
}

/** Live processes carrying our tag, wherever they are (not ourselves). */
function taggedAlive(): Proc[] {
  const out: Proc[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid || !hasEnvEntry(pid, TAG)) continue;
    const stat = readStat(pid);
    if (stat && !isDead(stat)) out.push({ pid, starttime: stat.starttime });
  }
  return out;
}

/** Live processes of the given pidfiles plus tagged ones, each once. */
export function survivorsOf(files: readonly string[]): Proc[] {
  return unique([...files.flatMap((file) => entries(file).filter(isAlive)), ...taggedAlive()]);
}

/** Children libuv waits for (execa/spawnLeader leaders not yet seen exiting), pid to `pid:starttime`: never reaped by us. */
const spawned = new Map<number, string>();
let subreaper = false;
/** Once this process is a child subreaper (for good), orphans re-parent to it and it reaps them. */
export function markSubreaper(): void {
  subreaper = true;
}
export function reap(): void {
  if (subreaper) reapAdoptedZombies(new Set(spawned.values()));
}
export function track<T extends { pid?: number }>(child: T): T {
  // Read before any libuv callback can reap it: the child is alive or an unreaped zombie.
  if (child.pid !== undefined) spawned.set(child.pid, memberKey(child.pid, readStat(child.pid)?.starttime ?? -1));
  return child;
}
export function untrack(pid: number | undefined): void {
  if (pid !== undefined) spawned.delete(pid);
}

/** One line on a survivor: its command, parent, session and whether it kept its environment. */
export function describe(proc: Proc): string {
  const stat = readStat(proc.pid);
  const argv = readCmdline(proc.pid)
    .map((word) => word.replace(`${ZOO}/`, ''))
    .join(' ');
  if (!stat) return `pid ${proc.pid} (gone)`;
  const session = stat.sid === proc.pid ? 'own session' : `session ${stat.sid}`;
  const env = hasEnvEntry(proc.pid, TAG) ? 'environment kept' : 'environment cleared';
  return `pid ${proc.pid} \`${argv}\` (ppid ${stat.ppid}, ${session}, ${env})`;
}

/**
 * Kills `procs` one by one by (pid, starttime), and whatever of `files` and of the tag is alive after
 * them: a survivor of a fork storm keeps forking, so each round stops (SIGSTOP) every live process
 * until no new one shows up, then SIGKILLs them all, until none is alive (at most 10 s).
 * @returns those still alive at the end
 */
export async function killByPid(procs: readonly Proc[], files: readonly string[] = []): Promise<Proc[]> {
  const find = (): Proc[] => unique([...procs.filter(isAlive), ...survivorsOf(files)]);
  const end = performance.now() + 10_000;
  let left = find();
  while (left.length > 0 && performance.now() < end) {
    const stopped = new Set<string>();
    for (let round = 0; round < 20; round++) {
      const fresh = left.filter((proc) => !stopped.has(keyOf(proc)));
      if (fresh.length === 0) break;
      for (const proc of fresh) {
        signalMember(proc, 'SIGSTOP');
        stopped.add(keyOf(proc));
      }
      left = find();
    }
    for (const proc of left) signalMember(proc, 'SIGKILL');
    await sleep(30);
    reap();
    left = find();
  }
  return left;
}
