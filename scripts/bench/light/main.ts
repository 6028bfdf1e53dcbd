// Benchmark of issue 14, "Light enough to wrap every job": what wrapping one job costs, each measure
// side by side with its peer in the same run, so the ratio holds on a noisy machine:
//
//   1. startup:   `scidex-run --quiet -- true` (and `--tracking B` for each available backend) beside
//                 `node -e 0` and `timeout 10 true`, interleaved; wall and CPU time (startup.ts);
//   2. footprint: 10 wrappers of `sleep 60` beside 10 idle nodes at once: PSS of a wrapper with its
//                 helpers against one node's (footprint.ts);
//   3. fleet:     500 concurrent `--tracking cgroup` runs on one state directory: their summed CPU over
//                 a window and PSS, and that every one ends and is recorded `completed` (fleet.ts).
//
// Options: --part startup,footprint,fleet; --startup-runs N (15); --backends cgroup,subreaper,pgroup
// (start-up rows, of those available); --footprint-count N (10); --fleet-runs N (500); --fleet-sleep
// S (60, seconds each leader sleeps); --fleet-window S (20, seconds of CPU sampling); --fleet-batch N (25).
//
// Bundled on the fly by scripts/bench/run.mjs (`npm run bench -- --only light`) into
// dist/bench/light.mjs. Prints a Markdown report on stdout, progress on stderr. Every process started
// carries the bench tag and is checked at the end (exit 1 if one survived); see ../common/processes.ts.
import { statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { log, newFolder, ROOT, RUN_BIN, stepper } from '../common/context.js';
import { runPart } from '../common/finish.js';
import { start } from '../common/processes.js';
import { fleet, type FleetResult } from './fleet.js';
import { footprint } from './footprint.js';
import { clockTicksPerSecond } from './procfs.js';
import { footprintTable, fleetTable, startupTable } from './report.js';
import { childrenCpuUnavailable } from './rusage.js';
import { startup, variants } from './startup.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const PARTS = option('part')?.split(',') ?? ['startup', 'footprint', 'fleet'];
const STARTUP_RUNS = Number(option('startup-runs') ?? 15);
const FOOTPRINT_COUNT = Number(option('footprint-count') ?? 10);
const FLEET_RUNS = Number(option('fleet-runs') ?? 500);
const FLEET_SLEEP_S = Number(option('fleet-sleep') ?? 60);
const FLEET_WINDOW_S = Number(option('fleet-window') ?? 20);
const FLEET_BATCH = Number(option('fleet-batch') ?? 25);

/** When the product's bundle was last built, ms since the epoch; a shared checkout may be rebuilt while we measure. */
const builtAt = (): number | undefined => {
  try {
    return statSync(join(ROOT, 'dist/bin/run.mjs')).mtimeMs;
  } catch {
    return undefined;
  }
};

/** The backends `--explain-tracking --json` reports available, and the one it would choose. */
async function explain(): Promise<{ chosen: string; available: string[] }> {
  const result = await start(RUN_BIN, ['--explain-tracking', '--json'], newFolder('explain'), { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const report = JSON.parse(String(result.stdout)) as { chosen: string; backends: { backend: string; available: boolean }[] };
  return { chosen: report.chosen, available: report.backends.filter((b) => b.available).map((b) => b.backend) };
}

async function main(out: string[]): Promise<boolean> {
  for (const [name, value] of Object.entries({ STARTUP_RUNS, FOOTPRINT_COUNT, FLEET_RUNS, FLEET_SLEEP_S, FLEET_WINDOW_S, FLEET_BATCH })) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${value}`);
  }
  const notes: string[] = [];
  const step = stepper(notes);
  const built = builtAt();
  const { chosen, available } = await explain();
  const only = option('backends')?.split(',');
  const backends = available.filter((b) => !only || only.includes(b));
  const [l1, l5, l15] = loadavg();
  out.push(
    `Made by: \`node scripts/bench/run.mjs --only light${args.length > 0 ? ` ${args.join(' ')}` : ''}\` (or \`npm run bench -- --only light ...\`), ${new Date().toISOString()}.`,
    `Host: nproc ${availableParallelism()}, load average ${l1.toFixed(2)} / ${l5.toFixed(2)} / ${l15.toFixed(2)} (1 / 5 / 15 min) at the start; Node ${process.version}. ` +
      `Tracking backends available: ${available.join(', ')} (default ${chosen}).`,
    '',
  );
  let failed = false;
  if (PARTS.includes('startup')) {
    const runs = await step('startup', () => startup(variants(backends), STARTUP_RUNS));
    out.push(...startupTable(runs, STARTUP_RUNS, childrenCpuUnavailable()));
    if ([...runs.values()].flat().some((run) => run.exitCode !== 0)) failed = true;
  }
  if (PARTS.includes('footprint')) {
    const result = await step('footprint', () => footprint(FOOTPRINT_COUNT));
    out.push(...footprintTable(result));
    failed ||= result.failed;
  }
  if (PARTS.includes('fleet')) {
    let result: FleetResult | string;
    if (!available.includes('cgroup')) result = 'the cgroup backend is not available on this host (`--explain-tracking`)';
    else {
      const clock = await clockTicksPerSecond();
      result = await step('fleet', () => fleet({ runs: FLEET_RUNS, sleepSeconds: FLEET_SLEEP_S, windowSeconds: FLEET_WINDOW_S, batch: FLEET_BATCH, clockTicksPerSecond: clock }));
      failed ||= result.failed;
    }
    out.push(...fleetTable(result));
  }
  const rebuilt = builtAt();
  if (rebuilt !== built) {
    notes.push(`- **dist/bin/run.mjs was rebuilt during this run** (now dated ${rebuilt === undefined ? 'missing' : new Date(rebuilt).toISOString()}): runs may have met a half-written or a different build.`);
  }
  out.push(...notes, '');
  return failed;
}

await runPart('light', main, log);
