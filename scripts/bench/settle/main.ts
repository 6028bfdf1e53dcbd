// Benchmark of issue 10, part 3: how long the helpers of third-party libraries outlive their main
// process, to choose the settle window from measurement (a process that exits by itself within the
// window after the leader is recorded as exited, never killed). Two measures, on the fixtures of
// test/fixtures/third-party/ (test/helpers/third-party.ts says which interpreter runs each, or why
// one cannot run here and is skipped):
//
//   1. leftovers: each fixture --settle-runs times (20) bare, in a session of its own, watched by a
//                 ~1 ms poll of /proc: how many processes outlive the leader and by how long
//                 (leftovers.ts); once idle, once beside two busy loops (load.ts);
//   2. overhead:  each fixture's wall time bare and under `bin/scidex-run --quiet --tracking B --`
//                 for each available backend, --overhead-runs rounds (5), interleaved (overhead.ts).
//
// Options: --part leftovers,overhead; --settle-runs N; --overhead-runs N; --loads idle,busy;
// --fixtures mp_spawn,r_psock (file name prefixes); --backends cgroup,subreaper,pgroup.
//
// Bundled on the fly by scripts/bench/run.mjs (`npm run bench -- --only settle`) into
// dist/bench/settle.mjs. Prints a Markdown report on stdout, progress on stderr. Every process started
// carries the bench tag and is checked at the end (exit 1 if one survived); see ../common/processes.ts.
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import type { ResolvedFixture } from '../../../test/helpers/third-party.js';
import { resolveFixtures } from '../../../test/helpers/third-party.js';
import { log, newFolder, ROOT, RUN_BIN } from '../common/context.js';
import { runPart } from '../common/finish.js';
import { start } from '../common/processes.js';
import { CAP_MS, leftoverEnv, observeRun, POLL_MS, type RunObservation } from './leftovers.js';
import { startLoad } from './load.js';
import { overhead, type TimedRun } from './overhead.js';
import { leftoverTables, overheadTable, type Series } from './report.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const parts = option('part')?.split(',') ?? ['leftovers', 'overhead'];
const SETTLE_RUNS = Number(option('settle-runs') ?? 20);
const OVERHEAD_RUNS = Number(option('overhead-runs') ?? 5);
const LOADS = (option('loads')?.split(',') ?? ['idle', 'busy']) as Series['load'][];
const onlyFixtures = option('fixtures')?.split(',');

/** The backends `--explain-tracking --json` reports available. */
async function availableBackends(): Promise<string[]> {
  const result = await start(RUN_BIN, ['--explain-tracking', '--json'], newFolder('explain'), { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  const report = JSON.parse(String(result.stdout)) as { backends: { backend: string; available: boolean }[] };
  return report.backends.filter((b) => b.available).map((b) => b.backend);
}

async function leftoverSeries(fixtures: readonly ResolvedFixture[]): Promise<{ series: Series[]; failed: boolean }> {
  const series: Series[] = [];
  let failed = false;
  for (const load of LOADS) {
    const busy = load === 'busy' ? await startLoad(2) : undefined;
    try {
      for (const fixture of fixtures) {
        const started = loadavg()[0];
        const runs: RunObservation[] = [];
        const t0 = performance.now();
        for (let i = 0; i < SETTLE_RUNS; i++) runs.push(await observeRun(fixture.argv!, leftoverEnv()));
        series.push({ fixture: fixture.file, load, runs, loadavg: [started, loadavg()[0]] });
        const delays = runs.flatMap((run) => run.leftovers.map((left) => left.delayMs));
        log(`${fixture.file}, ${load}: ${runs.length} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s; max delay ${Math.max(...delays).toFixed(1)} ms`);
        if (runs.some((run) => run.exitCode !== 0 || run.stragglers.length > 0)) failed = true;
      }
    } finally {
      const alive = (await busy?.stop()) ?? [];
      if (alive.length > 0) {
        log(`busy loops still alive after SIGKILL: ${alive.join(', ')}`);
        failed = true;
      }
    }
  }
  return { series, failed };
}

async function main(out: string[]): Promise<boolean> {
  const resolved = resolveFixtures(join(ROOT, 'test/fixtures/third-party')).filter((f) => !onlyFixtures || onlyFixtures.some((prefix) => f.file.startsWith(prefix)));
  const fixtures = resolved.filter((f) => f.argv);
  const available = await availableBackends();
  const only = option('backends')?.split(',');
  const backends = available.filter((b) => !only || only.includes(b));
  out.push(
    `Host: ${cpus().length} cores, 1-minute load average ${loadavg()[0].toFixed(2)} at the start. Backends available: ${available.join(', ')}; measured: ${backends.join(', ')}.`,
    '',
    'Fixtures and their commands:',
    '',
    ...resolved.map((f) => `- ${f.file}: ${f.argv ? `\`${f.argv.map((word) => word.replace(`${ROOT}`, '')).join(' ')}\`` : `**skipped**: ${f.skip}`}`),
    '',
  );
  log(`fixtures: ${fixtures.map((f) => f.file).join(', ')}; backends ${backends.join(', ')}`);
  let failed = false;
  if (parts.includes('leftovers')) {
    const result = await leftoverSeries(fixtures);
    failed ||= result.failed;
    out.push(...leftoverTables(result.series, POLL_MS, CAP_MS));
  }
  if (parts.includes('overhead')) {
    const results = new Map<string, Map<string, TimedRun[]>>();
    for (const fixture of fixtures) {
      const t0 = performance.now();
      results.set(fixture.file, await overhead(fixture.argv!, backends, OVERHEAD_RUNS));
      log(`${fixture.file}: overhead, ${OVERHEAD_RUNS} rounds in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    out.push(...overheadTable(results, backends, OVERHEAD_RUNS));
  }
  return failed;
}

await runPart('settle', main);
