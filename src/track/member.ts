/** How a member was recognised as belonging to the run. */
export type FoundBy = 'leader' | 'group' | 'session' | 'ancestry' | 'cookie' | 'cgroup' | 'subreaper';

/**
 * One process of the run, identified by (pid, starttime): PIDs are reused (pid_max is 32768 on
 * our hosts), the pair is not. Mutable: the tracker updates it at every scan.
 */
export interface Member {
  pid: number;
  /** Clock ticks after boot, proc(5) stat field 22. */
  starttime: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** stat field 3 at the last scan. */
  state: string;
  comm: string;
  argv: string[];
  foundBy: FoundBy;
  /** Wall clock, epoch milliseconds. */
  firstSeenMs: number;
  lastSeenMs: number;
  /** RSS at the last scan that found it alive, bytes. */
  rssBytes: number;
  peakRssBytes: number;
  /** utime + stime at the last scan, clock ticks. */
  cpuTicks: number;
  /** False once the process is gone or a zombie: zombies count as dead. */
  alive: boolean;
}

/** The `pid:starttime` key of a member. */
export function memberKey(pid: number, starttime: number): string {
  return `${pid}:${starttime}`;
}
