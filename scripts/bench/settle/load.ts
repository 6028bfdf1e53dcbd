// The "loaded" condition of the settle benchmark: two CPU hogs, `sh -c 'while :; do :; done'`, one
// per core of a 2-core machine, started before a series and killed by (pid, starttime) after it.
import { setTimeout as sleep } from 'node:timers/promises';
import { isDead, readStat } from '../../../src/proc/stat.js';
import { signalMember } from '../../../src/terminate/guard.js';
import { newFolder } from '../common/context.js';
import { start } from '../common/processes.js';

/** The busy loops of one series. */
export interface Load {
  /** Kills the loops by (pid, starttime) and waits until they are gone. @returns pids still alive after 5 s (none expected) */
  stop(): Promise<number[]>;
}

/** Starts `count` busy loops and returns once each has used CPU time (so they are really spinning). */
export async function startLoad(count = 2): Promise<Load> {
  const stateDir = newFolder('load');
  const loops = Array.from({ length: count }, () => start('sh', ['-c', 'while :; do :; done'], stateDir, { stdio: 'ignore' }));
  const procs = loops.map((loop) => ({ pid: loop.pid!, starttime: readStat(loop.pid!)!.starttime }));
  const spinning = (): boolean => procs.every((proc) => {
    const stat = readStat(proc.pid);
    return stat !== undefined && stat.utimeTicks + stat.stimeTicks > 0;
  });
  const end = performance.now() + 10_000;
  while (!spinning() && performance.now() < end) await sleep(10);
  return {
    async stop() {
      for (const proc of procs) signalMember(proc, 'SIGKILL');
      await Promise.race([Promise.all(loops), sleep(5000)]);
      return procs.filter((proc) => {
        const stat = readStat(proc.pid);
        return stat !== undefined && stat.starttime === proc.starttime && !isDead(stat);
      }).map((proc) => proc.pid);
    },
  };
}
