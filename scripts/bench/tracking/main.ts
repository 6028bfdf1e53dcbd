// Benchmarks of issue 3: the tracking backends, side by side with their peers in one process.
//
//   1. ticks:  per backend, the cost of one tracking scan for trees of 1, 20 and 500 processes (ticks.ts);
//   2. kill:   per backend, terminateTree from the kill decision to an empty tree, for a 500-process
//              fan-out and for a fork storm, with the survivors, which must be 0 (kill.ts);
//   3. peers:  the same zoo programs under `timeout -k`, execa with a group kill and scidex-run with each
//              backend: the processes each leaves behind, and its time to an empty tree (peers.ts, peer-run.ts).
//
// Bundled on the fly by scripts/bench/run.mjs (`node scripts/bench/run.mjs --only tracking`) into
// dist/bench/tracking.mjs. Prints a Markdown report on stdout, progress on stderr. Options:
// --reps N, --peer-runs N, --part ticks,kill,peers, --backends cgroup,subreaper,pgroup.
//
// The peers run first and the subreaper backend last: prctl(PR_SET_CHILD_SUBREAPER) cannot be undone,
// and after it every orphan among our descendants re-parents to this process instead of init, which
// would change what the others face. Safety is in processes.ts; at the end, every pidfile and the whole
// /proc are checked for survivors (exit 1 if any), and every run's cgroup must be gone.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { cgroup2MountPoint } from '../../../src/proc/cgroup.js';
import { listPids } from '../../../src/proc/list.js';
import type { TrackingBackend } from '../../../src/config/tracking.js';
import { baseEnv, BIN, log, WORK } from './context.js';
import { fanoutKills, stormKills, type KillRow } from './kill.js';
import { peerPart, type PeerResults } from './peer-run.js';
import { describe, entries, killByPid, pidfiles, reap, runIds, survivorsOf, track, untrack } from './processes.js';
import { killTable, peerTables, tickTable } from './report.js';
import { smallTreeTicks, type TickRow } from './ticks.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const REPS = Number(option('reps') ?? 3);
const PEER_RUNS = Number(option('peer-runs') ?? 1);
const ONLY = option('part');
const wanted = (part: string): boolean => ONLY === undefined || ONLY.split(',').includes(part);

/** The backends `--explain-tracking` reports available, and whether signals go through pidfds. */
async function explain(): Promise<{ backends: TrackingBackend[]; pidfd: boolean }> {
  const child = track(execa(BIN, ['--explain-tracking', '--json'], { env: baseEnv, extendEnv: false, reject: false }));
  const result = await child;
  untrack(child.pid);
  const report = JSON.parse(String(result.stdout)) as { backends: { backend: TrackingBackend; available: boolean }[]; pidfd: boolean };
  return { backends: report.backends.filter((b) => b.available).map((b) => b.backend), pidfd: report.pidfd };
}

/** Parts 1 and 2, in this process, backend by backend with subreaper last. */
async function trackerParts(backends: TrackingBackend[]): Promise<{ ticks: TickRow[]; kills: KillRow[] }> {
  const ticks: TickRow[] = [];
  const kills: KillRow[] = [];
  const ordered = [...backends].sort((a, b) => Number(a === 'subreaper') - Number(b === 'subreaper'));
  for (const backend of ordered) {
    if (wanted('ticks')) ticks.push(...(await smallTreeTicks(backend)));
    if (wanted('kill') || wanted('ticks')) {
      const fanout = await fanoutKills(backend, { kill: wanted('kill'), ticks: wanted('ticks') }, REPS);
      ticks.push(...fanout.ticks);
      kills.push(...fanout.kills);
    }
    if (wanted('kill')) kills.push(...(await stormKills(backend, REPS)));
  }
  return { ticks, kills };
}

async function main(): Promise<number> {
  const started = performance.now();
  const { backends: available, pidfd } = await explain();
  const only = option('backends')?.split(',') as TrackingBackend[] | undefined;
  const backends = available.filter((backend) => !only || only.includes(backend));
  log(`backends available: ${available.join(', ')}; benchmarking ${backends.join(', ')}; reps ${REPS}`);
  const hostProcesses = listPids().length;

  let peerResults: PeerResults | undefined;
  if (wanted('peers')) peerResults = await peerPart(backends, PEER_RUNS);
  const { ticks, kills } = wanted('ticks') || wanted('kill') ? await trackerParts(backends) : { ticks: [], kills: [] };

  const out: string[] = [
    `Backends available (\`bin/scidex-run --explain-tracking --json\`): ${available.join(', ')}; signals through pidfds: ${pidfd}. ` +
      `Processes on the host at start: ${hostProcesses}.`,
    '',
  ];
  if (ticks.length > 0) out.push(...tickTable(ticks));
  if (kills.length > 0) out.push(...killTable(kills, REPS));
  if (peerResults) out.push(...peerTables(peerResults));

  // Final check: nothing of ours is alive, no cgroup of ours is left.
  reap();
  let left = survivorsOf(pidfiles);
  if (left.length > 0) {
    log(`final check: ${left.length} survivors: ${left.map(describe).join('; ')}; killing them by pid`);
    await killByPid(left, pidfiles);
    left = survivorsOf(pidfiles);
  }
  const mount = cgroup2MountPoint();
  const cgroupsLeft = mount ? [...runIds].filter((id) => existsSync(join(mount, 'scidex-run', id))) : [];
  const entriesChecked = pidfiles.reduce((sum, file) => sum + entries(file).length, 0);
  out.push(
    `Final check: ${entriesChecked} pidfile entries in ${pidfiles.length} pidfiles and every process carrying the bench tag: ` +
      `${left.length} alive at exit. Cgroups of its ${runIds.size} runs left under ${mount ?? '(no cgroup2)'}/scidex-run: ${cgroupsLeft.length}. ` +
      `Part took ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  );
  console.log(out.join('\n'));
  rmSync(WORK, { recursive: true, force: true });
  if (cgroupsLeft.length > 0) console.error(`bench(tracking): cgroups left: ${cgroupsLeft.join(', ')}`);
  if (left.length > 0) {
    console.error(`bench(tracking): processes survived: ${left.map((p) => p.pid).join(', ')}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main().catch(async (error: unknown) => {
  console.error(`bench(tracking): ${(error as Error).stack ?? error}`);
  const left = survivorsOf(pidfiles);
  if (left.length > 0) {
    console.error(`bench(tracking): killing ${left.length} processes by pid after the failure`);
    const stubborn = await killByPid(left, pidfiles);
    console.error(`bench(tracking): ${stubborn.length} alive after that`);
  }
  rmSync(WORK, { recursive: true, force: true });
  return 1;
});
