// A tree run in this process under one backend, set up exactly as src/supervise does it
// (setUpTracking, spawnLeader with the run's cgroup as the spawn bracket, openTracker), so the ticks
// and kills timed on it are those of a real run.
//
// A tree is measured only once the tracker and the pidfile both see all of it; it is always ended
// with terminateTree and SIGKILL, and whatever is left is killed by pid, so one failed measure
// leaves nothing running for the next.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnLeader, type Leader } from '../../../src/supervise/spawn.js';
import { terminateTree, type TerminationHooks } from '../../../src/terminate/sequence.js';
import { openTracker, setUpTracking, type RunFacts, type TrackingSetup } from '../../../src/track/select.js';
import type { TrackingBackend } from '../../../src/config/tracking.js';
import type { Tracker } from '../../../src/track/tracker.js';
import { baseEnv, OWN_STARTTIME } from './context.js';
import { entries, killByPid, markSubreaper, newPidfile, reap, runIds, survivorsOf, track, untrack, type Proc } from './processes.js';

export interface Tree {
  backend: TrackingBackend;
  setup: TrackingSetup;
  facts: RunFacts;
  tracker: Tracker;
  leader: Leader;
  pidfile: string;
}

/** Sets up `backend` as src/supervise does, spawns `command` in it and opens its tracker. */
export async function openTree(backend: TrackingBackend, command: string[], label: string): Promise<Tree> {
  const runId = randomUUID();
  runIds.add(runId);
  const setup = setUpTracking(backend, runId);
  if (backend === 'subreaper') markSubreaper();
  const pidfile = newPidfile(`${backend}-${label}`);
  const env = { ...baseEnv, SCIDEX_RUN_ID: runId, ZOO_PIDFILE: pidfile };
  const leader = await spawnLeader(command, env, setup.cgroup);
  if (!('pid' in leader)) {
    setup.cgroup?.remove();
    throw new Error(`cannot start ${command.join(' ')}: ${leader.message}`);
  }
  track(leader);
  void leader.exited.then(() => untrack(leader.pid));
  const facts: RunFacts = { leaderPid: leader.pid, cookie: `SCIDEX_RUN_ID=${runId}`, minStarttime: OWN_STARTTIME, excluded: new Set<string>() };
  const tracker = openTracker(setup, facts);
  tracker.scan();
  return { backend, setup, facts, tracker, leader, pidfile };
}

/** Waits until the tracker sees at least `count` live members, and the pidfile as many. @returns the count seen */
export async function waitSeen(tree: Tree, count: number, timeoutMs: number): Promise<number> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    reap();
    const alive = tree.tracker.scan().alive.length;
    if ((alive >= count && entries(tree.pidfile).length >= count) || performance.now() > end) return alive;
    await sleep(20);
  }
}

/** Waits until all `count` processes are seen (or throws), then lets them settle for 100 ms. */
export async function waitComplete(tree: Tree, count: number, timeoutMs: number): Promise<void> {
  const seen = await waitSeen(tree, count, timeoutMs);
  if (seen < count) throw new Error(`${tree.backend}: the tracker saw ${seen} of ${count}`);
  await sleep(100);
}

/** After the tree was terminated: waits for the leader, reaps, lets it settle. @returns the pidfile's and the tag's survivors */
export async function afterEnd(tree: Tree, settleMs: number): Promise<Proc[]> {
  await Promise.race([tree.leader.exited, sleep(5000)]);
  reap();
  await sleep(settleMs);
  reap();
  return survivorsOf([tree.pidfile]);
}

/** Termination hooks that record nothing; a refused cgroup write is still said, on stderr. */
export const SILENT_HOOKS: TerminationHooks = {
  onSignal() {},
  onEnded() {},
  onKillFailed: (error) => console.error(`bench(tracking): ${error.message}`),
};

/** Ends a tree whatever happened (terminateTree with SIGKILL), waits for the leader, checks and cleans up. */
export async function closeTree(tree: Tree): Promise<Proc[]> {
  await terminateTree(tree.tracker, { signal: 'SIGKILL', graceMs: 0, hooks: SILENT_HOOKS });
  const left = await afterEnd(tree, 200);
  if (left.length > 0) await killByPid(left, [tree.pidfile]);
  tree.tracker.release();
  return left;
}
