// Part 2: per backend, terminateTree from the kill decision to an empty tree, with its survivors
// (there must be none), for a 500-process fan-out and for a churning fork storm.
//
// terminateTree runs in this process so the time is the call's alone, with no CLI start-up in it.
// The storm is killed at the peers' 2 s deadline, when its first processes have exited and their
// children re-parented, so it churns as under the peers (a churn that once let processes escape).
// Survivors are looked for in the pidfile and by tag 300 ms after the call returned, then killed by pid.
import { setTimeout as sleep } from 'node:timers/promises';
import { readStat } from '../../../src/proc/stat.js';
import { terminateTree } from '../../../src/terminate/sequence.js';
import type { TrackingBackend } from '../../../src/config/tracking.js';
import { log } from './context.js';
import { describe, entries, isAlive, killByPid, reap } from './processes.js';
import { measureTicks, type TickRow } from './ticks.js';
import { afterEnd, closeTree, openTree, SILENT_HOOKS, waitComplete, waitSeen, type Tree } from './tree.js';
import { fanout, STORM } from './zoo.js';

/** How old the storm is at the kill decision (in process): the peers' deadline. */
const STORM_AGE_MS = 2000;

export interface KillVariant {
  signal: NodeJS.Signals;
  graceMs: number;
}
const VARIANTS: KillVariant[] = [
  { signal: 'SIGTERM', graceMs: 200 },
  { signal: 'SIGKILL', graceMs: 0 },
];

export interface KillRow {
  backend: TrackingBackend;
  tree: string;
  variant: KillVariant;
  atDecision: number[];
  times: number[];
  killed: number[];
  survivors: number;
  details: string[];
}

/** Times terminateTree on an open tree; checks the pidfile and the tag for survivors afterwards. */
async function timeKill(tree: Tree, variant: KillVariant, row: KillRow): Promise<void> {
  const atDecision = tree.tracker.scan().alive.length;
  const start = performance.now();
  const result = await terminateTree(tree.tracker, {
    signal: variant.signal,
    graceMs: variant.graceMs,
    hooks: SILENT_HOOKS,
  });
  const elapsed = performance.now() - start;
  const liveAtReturn = entries(tree.pidfile).filter(isAlive);
  const left = await afterEnd(tree, 300);
  row.atDecision.push(atDecision);
  row.times.push(elapsed);
  row.killed.push(result.killed);
  if (result.survivors.length > 0) row.details.push(`terminateTree reported ${result.survivors.length} unkillable`);
  if (liveAtReturn.length > 0) row.details.push(`${liveAtReturn.length} pidfile processes still alive when terminateTree returned`);
  if (left.length > 0) {
    row.survivors += left.length;
    const adopted = left.filter((proc) => readStat(proc.pid)?.ppid === process.pid).length;
    const stopped = left.filter((proc) => readStat(proc.pid)?.state === 'T').length;
    const example = left.slice(0, 2).map(describe).join('; ');
    row.details.push(`run ${row.times.length}: ${left.length} survivors after terminateTree returned (${stopped} of them stopped, ${adopted} children of the bench); e.g. ${example}`);
    const stubborn = await killByPid(left, [tree.pidfile]);
    if (stubborn.length > 0) row.details.push(`could not kill ${stubborn.map((p) => p.pid).join(', ')}`);
  }
  tree.tracker.release();
}

interface KillCase {
  /** As in the report, and in the progress log. */
  tree: string;
  logName: string;
  command: string[];
  label: string;
  /** Brings a fresh tree to the moment of the kill decision. */
  prepare(tree: Tree, variant: KillVariant, rep: number): Promise<void>;
}

/** `reps` trees per variant; each is timed to empty (`timed`) or only closed. A failure closes the tree first. */
async function killRows(backend: TrackingBackend, kase: KillCase, variants: KillVariant[], reps: number, timed: boolean): Promise<KillRow[]> {
  const rows: KillRow[] = [];
  for (const variant of variants) {
    const row: KillRow = { backend, tree: kase.tree, variant, atDecision: [], times: [], killed: [], survivors: 0, details: [] };
    for (let rep = 0; rep < reps; rep++) {
      log(`${backend}: ${kase.logName}, ${variant.signal} grace ${variant.graceMs} ms, run ${rep + 1}`);
      const tree = await openTree(backend, kase.command, kase.label);
      try {
        await kase.prepare(tree, variant, rep);
        if (timed) await timeKill(tree, variant, row);
        else await closeTree(tree);
      } catch (error) {
        await closeTree(tree);
        throw error;
      }
    }
    rows.push(row);
  }
  return rows;
}

/**
 * The fan-out rows (`kill`), and on its first tree the 500-process tick row (`ticks`); with ticks
 * alone, one fan-out is started for them and closed.
 */
export async function fanoutKills(backend: TrackingBackend, parts: { kill: boolean; ticks: boolean }, reps: number): Promise<{ kills: KillRow[]; ticks: TickRow[] }> {
  const ticks: TickRow[] = [];
  const kase: KillCase = {
    tree: 'fan-out, 500 processes',
    logName: 'fan-out 500',
    command: fanout(500),
    label: 'fanout-500',
    async prepare(tree, variant, rep) {
      await waitComplete(tree, 500, 60_000);
      if (rep === 0 && variant === VARIANTS[0] && parts.ticks) {
        log(`${backend}: ticks, tree of 500`);
        ticks.push(measureTicks(tree, 500, 50, 5));
      }
    },
  };
  const kills = await killRows(backend, kase, parts.kill ? VARIANTS : [VARIANTS[0]], parts.kill ? reps : 1, parts.kill);
  return { kills: parts.kill ? kills : [], ticks };
}

/** The storm rows: killed at STORM_AGE_MS, while it churns. */
export function stormKills(backend: TrackingBackend, reps: number): Promise<KillRow[]> {
  const kase: KillCase = {
    tree: 'fork storm (~300, ignores SIGTERM)',
    logName: 'fork storm',
    command: STORM,
    label: 'storm',
    async prepare(tree) {
      // Its first processes have exited and their children re-parented (to init, or to us as subreaper).
      const born = performance.now();
      await waitSeen(tree, 250, 4000);
      while (performance.now() - born < STORM_AGE_MS) {
        reap();
        tree.tracker.scan();
        await sleep(100);
      }
    },
  };
  return killRows(backend, kase, VARIANTS, reps, true);
}
