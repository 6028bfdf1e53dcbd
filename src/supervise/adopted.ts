/**
 * Reaping adopted zombies. A subreaper (and PID 1 of a PID namespace) inherits every orphan of the
 * tree as its child; when one exits it stays a zombie until its parent waits for it, and libuv only
 * waits for the children it spawned. Each zombie child is reaped by its own pid, never with
 * waitpid(-1), which could take the leader's exit status away from libuv (tini's loop, made safe
 * for a process that shares its children with an event loop).
 */
import { readChildren } from '../proc/children.js';
import { readStat } from '../proc/stat.js';
import { libc } from '../sys/libc.js';
import { memberKey } from '../track/member.js';

/**
 * Reaps every zombie child of ours except `spawned`, the `pid:starttime` keys of the children
 * libuv waits for (by identity: a helper's pid may since have gone to an adopted orphan).
 * @returns how many were reaped
 */
export function reapAdoptedZombies(spawned: ReadonlySet<string>): number {
  const calls = libc();
  if (!calls) return 0;
  let reaped = 0;
  for (const pid of readChildren(process.pid)) {
    const stat = readStat(pid);
    if (!stat || stat.state !== 'Z' || spawned.has(memberKey(pid, stat.starttime))) continue;
    try {
      if (calls.reapChild(pid)) reaped += 1;
    } catch {
      // ECHILD: someone else reaped it first.
    }
  }
  return reaped;
}
