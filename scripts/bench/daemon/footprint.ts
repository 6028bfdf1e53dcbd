// Measure 1: the daemon's RSS and CPU, idle and with --daemon-runs runs to watch. The same daemon is
// sampled first with no run at all, then with N wrappers (`scidex-run --sample-interval 10s -- sleep
// 3600`, all of one analysis) on its state directory, once its own /status counts all N monitored.
// The runs stay up for measure 2 and are then cancelled with one `scidex-watchdog cancel
// --analysis-id` (the product's own path); every wrapper must exit, else it is SIGTERMed by pid.
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { listMarkers } from '../../../src/record/markers.js';
import { signalMember } from '../../../src/terminate/guard.js';
import { log, WATCHDOG_BIN } from '../common/context.js';
import type { BenchDatabase } from '../common/db.js';
import { runCli, stderrSummary, type CliResult } from '../common/processes.js';
import { identify, sampleFootprint, startWrapper, type Footprint, type Proc, type ServeDaemon } from './serve.js';

export interface FootprintResult {
  idle: Footprint;
  busy?: Footprint;
  runs: number;
  /** First spawn to /status counting all runs monitored, ms. */
  startMs?: number;
  load: { idle: number; busy?: number };
  notes: string[];
}

export interface Fleet {
  analysisId: string;
  wrappers: { proc: Proc; child: ReturnType<typeof startWrapper>; exited?: number; exitedAt?: number }[];
  stateDir: string;
  databaseUrl: string;
}

interface StatusJson {
  monitored_count: number;
}

export async function monitoredCount(daemon: ServeDaemon): Promise<number> {
  const response = await fetch(`${daemon.base}/status`);
  return ((await response.json()) as StatusJson).monitored_count;
}

/** Starts `runs` wrappers at once on the daemon's state directory; resolves when the daemon monitors them all. */
export async function startFleet(daemon: ServeDaemon, db: BenchDatabase, runs: number, holder: { fleet?: Fleet }): Promise<{ fleet: Fleet; startMs: number }> {
  const analysisId = `bench-daemon-fleet-${process.pid}`;
  const fleet: Fleet = { analysisId, wrappers: [], stateDir: daemon.stateDir, databaseUrl: db.url };
  holder.fleet = fleet;
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const child = startWrapper(daemon.stateDir, db.url, analysisId, ['sleep', '3600'], ['--sample-interval', '10s']);
    const entry: Fleet['wrappers'][number] = { proc: identify(child.pid), child };
    void child.then((result) => {
      entry.exited = result.exitCode ?? -1;
      entry.exitedAt = performance.now();
    });
    fleet.wrappers.push(entry);
  }
  let seen = 0;
  for (const end = t0 + 300_000; performance.now() < end; await sleep(1000)) {
    seen = await monitoredCount(daemon);
    if (seen >= runs) return { fleet, startMs: performance.now() - t0 };
    if (fleet.wrappers.some((wrapper) => wrapper.exited !== undefined)) break;
  }
  const gone = fleet.wrappers.filter((wrapper) => wrapper.exited !== undefined).length;
  throw new Error(`the daemon monitors ${seen} of ${runs} runs (${listMarkers(daemon.stateDir).length} markers, ${gone} wrappers exited)`);
}

/** Measure 1; the runs it starts are left in `holder.fleet` (as soon as they are spawned), for measure 2 and the stop. */
export async function footprint(daemon: ServeDaemon, db: BenchDatabase, runs: number, seconds: number, holder: { fleet?: Fleet }): Promise<FootprintResult> {
  // Past the first sweep (start-up, the first database round): the idle window starts at the second.
  const first = daemon.lastSweep()?.at;
  for (const end = performance.now() + 60_000; daemon.lastSweep()?.at === first && performance.now() < end; ) await sleep(200);
  log(`footprint: daemon idle, ${seconds} s`);
  const idleLoad = loadavg()[0];
  const idle = await sampleFootprint(daemon, seconds);
  const result: FootprintResult = { idle, runs, load: { idle: idleLoad }, notes: [] };
  if (runs === 0) return result;
  log(`footprint: starting ${runs} runs`);
  const { startMs } = await startFleet(daemon, db, runs, holder);
  result.startMs = startMs;
  // Let the start-ups' shipping and the load they made die down: one sweep interval.
  log(`footprint: ${runs} monitored after ${(startMs / 1000).toFixed(1)} s; waiting 10 s, then ${seconds} s of samples`);
  await sleep(10_000);
  result.load.busy = loadavg()[0];
  result.busy = await sampleFootprint(daemon, seconds);
  return result;
}

export interface FleetStop {
  cancel: CliResult & { ms: number };
  /** Exit codes of the wrappers, counted. */
  exits: Map<number, number>;
  /** From the cancel's start to the last wrapper's exit, ms. */
  lastExitMs: number;
  /** Wrappers still running 60 s after the cancel, SIGTERMed by pid. */
  forced: number;
  stderr: string[];
}

/** Cancels the fleet through `scidex-watchdog cancel --analysis-id` and waits for every wrapper. */
export async function stopFleet(fleet: Fleet): Promise<FleetStop> {
  const t0 = performance.now();
  const cancel = await runCli(WATCHDOG_BIN, ['cancel', '--analysis-id', fleet.analysisId, '--state-dir', fleet.stateDir, '--reason', 'bench done'], fleet.stateDir, fleet.databaseUrl);
  const cancelMs = performance.now() - t0;
  const all = Promise.all(fleet.wrappers.map((wrapper) => wrapper.child));
  const done = await Promise.race([all.then(() => true), sleep(60_000).then(() => false)]);
  let forced = 0;
  if (!done) {
    for (const wrapper of fleet.wrappers.filter((candidate) => candidate.exited === undefined)) {
      forced += 1;
      signalMember(wrapper.proc, 'SIGTERM');
    }
  }
  const results = await all;
  await sleep(0);
  const lastExitMs = Math.max(...fleet.wrappers.map((wrapper) => wrapper.exitedAt ?? performance.now())) - t0;
  const exits = new Map<number, number>();
  for (const result of results) exits.set(result.exitCode ?? -1, (exits.get(result.exitCode ?? -1) ?? 0) + 1);
  const stderr = stderrSummary(results.map((result) => ({ exitCode: result.exitCode, stderr: String(result.stderr ?? '') })));
  return { cancel: { ...cancel, ms: cancelMs }, exits, lastExitMs, forced, stderr };
}
