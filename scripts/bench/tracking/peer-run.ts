// One program under one peer: how many of its processes are left, and how long the peer took from
// its kill decision to an empty tree.
//
// The pidfile's live processes are sampled every 20 ms from just before the deadline, and counted as
// survivors only once the tool has exited and the count has not changed for 400 ms (a storm's last
// processes may still be dying). "Empty" is the first sample from which no more than the survivors are
// alive for good. Survivors are described, then killed by pid before the next run starts.
import { setTimeout as sleep } from 'node:timers/promises';
import type { TrackingBackend } from '../../../src/config/tracking.js';
import { log, wallMs } from './context.js';
import { describe, entries, isAlive, keyOf, killByPid, newPidfile, reap, survivorsOf, untrack, type Proc } from './processes.js';
import { DEADLINE_MS, peerName, startPeer, type Peer } from './peers.js';
import { PROGRAMS, type Program } from './zoo.js';

const SAMPLE_MS = 20;

export interface PeerRun {
  survivors: Proc[];
  descriptions: string[];
  toEmptyMs?: number;
  processes: number;
  exit: string;
  note?: string;
}

/** Counts the pidfile's live processes at each call; a process seen dead is never counted again. */
function liveCounter(pidfile: string): { sample(): void; samples: { at: number; live: number }[]; stableForMs(): number } {
  const samples: { at: number; live: number }[] = [];
  const candidates = new Map<string, Proc>();
  const deadKeys = new Set<string>();
  let lastChange = performance.now();
  let lastLive = -1;
  const sample = (): void => {
    for (const proc of entries(pidfile)) {
      const key = keyOf(proc);
      if (!candidates.has(key) && !deadKeys.has(key)) candidates.set(key, proc);
    }
    let live = 0;
    for (const [key, proc] of candidates) {
      if (isAlive(proc)) live++;
      else {
        candidates.delete(key);
        deadKeys.add(key);
      }
    }
    samples.push({ at: wallMs(), live });
    if (live !== lastLive) {
      lastLive = live;
      lastChange = performance.now();
    }
  };
  return { sample, samples, stableForMs: () => performance.now() - lastChange };
}

async function runPeer(peer: Peer, program: Program): Promise<PeerRun> {
  const pidfile = newPidfile(`${peer.kind}${peer.kind === 'cli' ? `-${peer.backend}` : ''}-${program.argv[1].split('/').pop()}`);
  const started = startPeer(peer, program.argv, pidfile);
  const childPid = started.child.pid;
  let done = false;
  const result = started.child.then((value) => {
    done = true;
    untrack(childPid);
    started.stop();
    return value;
  });

  // Sample from just before the deadline until the tool has exited and the count stopped changing.
  const counter = liveCounter(pidfile);
  const sampleFrom = started.tSpawn + DEADLINE_MS - 100;
  for (let waitedAfterDone = 0; ; ) {
    if (wallMs() >= sampleFrom || done) counter.sample();
    if (done) {
      waitedAfterDone += SAMPLE_MS;
      if (counter.stableForMs() > 400 || waitedAfterDone > 4000) break;
    }
    await sleep(SAMPLE_MS);
    reap();
  }
  const finished = await result;
  const survivors = survivorsOf([pidfile]);
  const { decision, note } = started.outcome(finished);

  let toEmptyMs: number | undefined;
  if (decision !== undefined && program.timed) {
    const { samples } = counter;
    const firstEmpty = samples.findIndex((s, i) => s.at >= decision && samples.slice(i).every((later) => later.live <= survivors.length));
    if (firstEmpty >= 0) toEmptyMs = Math.max(0, samples[firstEmpty].at - decision);
  }
  const descriptions = survivors.map(describe);
  const stubborn = await killByPid(survivors, [pidfile]);
  if (stubborn.length > 0) throw new Error(`could not kill ${stubborn.map((p) => p.pid).join(', ')}`);
  return {
    survivors,
    descriptions,
    toEmptyMs,
    processes: entries(pidfile).length,
    exit: finished.signal ? finished.signal : String(finished.exitCode),
    note,
  };
}

export type PeerResults = { peers: Peer[]; results: Map<string, PeerRun[]> };
/** The key of a program's runs under a peer in PeerResults.results. */
export const runsKey = (program: Program, peer: Peer): string => `${program.name}\t${peerName(peer)}`;

/** Every program under every peer, one after the other; the timed programs `peerRuns` times. */
export async function peerPart(backends: TrackingBackend[], peerRuns: number): Promise<PeerResults> {
  const peers: Peer[] = [{ kind: 'timeout' }, { kind: 'execa' }, ...backends.map((backend) => ({ kind: 'cli' as const, backend }))];
  const results = new Map<string, PeerRun[]>();
  for (const program of PROGRAMS) {
    for (let run = 0; run < (program.timed ? peerRuns : 1); run++) {
      for (const peer of peers) {
        log(`peers: ${program.name} under ${peerName(peer)}`);
        const key = runsKey(program, peer);
        const outcome = await runPeer(peer, program);
        results.set(key, [...(results.get(key) ?? []), outcome]);
      }
    }
  }
  return { peers, results };
}
