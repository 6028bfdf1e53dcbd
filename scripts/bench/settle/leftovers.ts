// Part 1 of the settle benchmark: what a third-party fixture leaves alive when its main process (the
// leader) exits, and for how long, watched from outside with no supervisor in between.
//
// One run: the fixture is spawned in a session of its own (setsid, Node's `detached`), with a cookie
// of its own in the environment (SCIDEX_SETTLE_COOKIE=<uuid>). Then this process polls /proc
// synchronously, about every POLL_MS, with the event loop blocked on purpose: libuv cannot reap the
// leader, so its exit shows in /proc as a zombie at the first poll after it. Each poll first checks
// the leader, then looks for new pids (ours: in the leader's session or carrying the cookie), then
// reads the stat of every process found so far. A process counts alive while /proc shows its pid
// with the same starttime and not as a zombie. A leftover is a process seen alive at a poll where the
// leader was already seen dead; its delay is the time from the poll that first saw the leader dead
// to the last poll that saw it alive. The error of either end is one poll interval, which is
// reported too. The poll stops once no process found is alive, or CAP_MS after the leader's exit:
// what is still alive then is killed by (pid, starttime) and reported as a straggler.
//
// Pids not ours are remembered and skipped (pid_max can be 32768 here, so the set is dropped every
// 50 ms and rebuilt, and a reused pid is looked at again).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { readCmdline } from '../../../src/proc/cmdline.js';
import { hasEnvEntry } from '../../../src/proc/environ.js';
import { listPids } from '../../../src/proc/list.js';
import { isDead, readStat } from '../../../src/proc/stat.js';
import { signalMember } from '../../../src/terminate/guard.js';
import { childEnv, newFolder } from '../common/context.js';

/** Target interval between two polls, milliseconds. */
export const POLL_MS = 1;
/** How long after the leader's exit the poll goes on at most, milliseconds. */
export const CAP_MS = 10_000;
/** How long the leader may run at most before the run counts as failed, milliseconds. */
const LEADER_LIMIT_MS = 120_000;

/** One process of the run other than the leader. */
export interface Seen {
  pid: number;
  starttime: number;
  /** A short name of what it is (resource tracker, fork server, spawn worker, R worker, ...). */
  kind: string;
  /** performance.now() of the poll that found it, ms. */
  firstSeenMs: number;
  /** performance.now() of the last poll that saw it alive, ms. */
  lastAliveMs: number;
  /** Whether it was seen alive at a poll after the one that first saw the leader dead. */
  afterLeader: boolean;
}

/** What one run of a fixture showed. */
export interface RunObservation {
  exitCode: number | null;
  /** The fixture's stderr (it should print nothing). */
  stderr: string;
  /** Leader runtime, spawn to the first poll that saw it dead, ms. */
  leaderMs: number;
  /** Leftovers: for each, ms from the leader's exit to its last sighting alive, and what it is. */
  leftovers: { kind: string; delayMs: number }[];
  /** Leftovers still alive CAP_MS after the leader's exit (killed by pid), described. */
  stragglers: string[];
  /** Poll intervals from the leader's exit to the end, ms: the resolution of the delays. */
  intervalsMs: number[];
  /** The interval within which the leader exited (its last poll alive to its first dead), ms. */
  leaderExitUncertaintyMs: number;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks this thread (and the event loop) for `ms` milliseconds. */
const block = (ms: number): void => void Atomics.wait(sleeper, 0, 0, ms);

/** A short name for a process of a fixture's tree, from its command line. */
export function kindOf(argv: readonly string[], comm: string): string {
  const line = argv.join(' ');
  if (/resource_tracker/.test(line)) return /loky/.test(line) ? 'loky resource tracker' : 'resource tracker';
  if (/forkserver/.test(line)) return 'fork server';
  if (/popen_loky|loky\.backend/.test(line)) return 'loky worker';
  if (/spawn_main/.test(line)) return 'spawn worker';
  if (/workRSOCK|parallel:::|--args.*MASTER=/.test(line)) return 'R PSOCK worker';
  if (argv.length === 0) return comm;
  const name = argv[0].split('/').at(-1) ?? comm;
  return `${name} ${argv.slice(1).join(' ')}`.trim().slice(0, 60);
}

/**
 * Runs `argv` once in a session of its own and watches its leftovers (see the header).
 * @param env the environment (the bench tag and a cookie of the run's own are added)
 */
export async function observeRun(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<RunObservation> {
  const cookie = `SCIDEX_SETTLE_COOKIE=${randomUUID()}`;
  const stderrPath = join(newFolder('stderr'), 'stderr');
  const stderrFd = openSync(stderrPath, 'w');
  const t0 = performance.now();
  const child = spawn(argv[0], argv.slice(1), {
    detached: true,
    stdio: ['ignore', 'ignore', stderrFd],
    env: { ...env, SCIDEX_SETTLE_COOKIE: cookie.slice('SCIDEX_SETTLE_COOKIE='.length) },
  });
  closeSync(stderrFd);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const leader = child.pid;
  if (leader === undefined) throw new Error(`cannot spawn ${argv[0]}`);

  const seen = new Map<string, Seen>();
  const notOurs = new Set<number>();
  let notOursSince = performance.now();
  let leaderDeadAt: number | undefined;
  let leaderLastAlive = t0;
  let previousPoll = t0;
  const intervals: number[] = [];
  for (;;) {
    const now = performance.now();
    if (leaderDeadAt !== undefined) intervals.push(now - previousPoll);
    previousPoll = now;
    // 1. The leader: a zombie (or gone) means it has exited.
    if (leaderDeadAt === undefined) {
      const stat = readStat(leader);
      if (stat === undefined || isDead(stat)) leaderDeadAt = now;
      else leaderLastAlive = now;
    }
    // 2. New processes of the run: in the leader's session, or carrying the cookie.
    if (now - notOursSince > 50) {
      notOurs.clear();
      notOursSince = now;
    }
    const known = new Set([...seen.values()].map((proc) => proc.pid));
    for (const pid of listPids()) {
      if (pid === leader || pid === process.pid || known.has(pid) || notOurs.has(pid)) continue;
      const stat = readStat(pid);
      if (stat === undefined || isDead(stat)) continue;
      if (stat.sid !== leader && !hasEnvEntry(pid, cookie)) {
        notOurs.add(pid);
        continue;
      }
      seen.set(`${pid}:${stat.starttime}`, { pid, starttime: stat.starttime, kind: kindOf(readCmdline(pid), stat.comm), firstSeenMs: now, lastAliveMs: now, afterLeader: leaderDeadAt !== undefined });
    }
    // 3. Which of them are alive.
    let alive = 0;
    for (const proc of seen.values()) {
      const stat = readStat(proc.pid);
      if (stat === undefined || stat.starttime !== proc.starttime || isDead(stat)) continue;
      alive++;
      proc.lastAliveMs = now;
      if (leaderDeadAt !== undefined) proc.afterLeader = true;
      // A child caught between fork and exec shows its parent's command line: look again for a while.
      if (now - proc.firstSeenMs < 200) proc.kind = kindOf(readCmdline(proc.pid), stat.comm);
    }
    if (leaderDeadAt !== undefined && (alive === 0 || now - leaderDeadAt > CAP_MS)) break;
    if (leaderDeadAt === undefined && now - t0 > LEADER_LIMIT_MS) break;
    block(POLL_MS);
  }

  // Stragglers (and a leader over its limit) are killed by (pid, starttime).
  const stragglers: string[] = [];
  for (const proc of seen.values()) {
    const stat = readStat(proc.pid);
    if (stat && stat.starttime === proc.starttime && !isDead(stat)) {
      stragglers.push(`pid ${proc.pid} ${proc.kind}`);
      signalMember(proc, 'SIGKILL');
    }
  }
  if (leaderDeadAt === undefined) {
    stragglers.push(`leader pid ${leader} (still running after ${LEADER_LIMIT_MS} ms)`);
    child.kill('SIGKILL');
  }
  const [code] = await exited;
  const leaderDead = leaderDeadAt ?? performance.now();
  return {
    exitCode: code,
    stderr: readFileSync(stderrPath, 'utf8'),
    leaderMs: leaderDead - t0,
    leftovers: [...seen.values()].filter((proc) => proc.afterLeader).map((proc) => ({ kind: proc.kind, delayMs: proc.lastAliveMs - leaderDead })),
    stragglers,
    intervalsMs: intervals,
    leaderExitUncertaintyMs: leaderDead - leaderLastAlive,
  };
}

/** observeRun's environment: the bench's own (tag, no database, a state dir of its own). */
export function leftoverEnv(): NodeJS.ProcessEnv {
  return childEnv(newFolder('state'));
}
