// The Markdown tables of the light part, one per measure, each with the commands that made it. Times
// are ms, memory MiB (2^20 bytes), CPU % of one core. Nothing is hidden: failures, odd exits and any
// stderr are listed under the tables.
import { median } from '../tracking/stats.js';
import type { FleetResult } from './fleet.js';
import { stderrGist } from './gist.js';
import { IDLE_NODE_SCRIPT, type FootprintResult } from './footprint.js';
import type { StartupRun, Variant } from './startup.js';

const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const rule = (columns: number): string => `|${'---|'.repeat(columns)}`;
const f1 = (value: number | undefined): string => (value === undefined || Number.isNaN(value) ? '—' : value.toFixed(1));
const mib = (bytes: number): string => (bytes / 1024 ** 2).toFixed(1);
const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
const counts = (map: ReadonlyMap<string, number>): string => [...map].map(([key, n]) => `${key} ×${n}`).join(', ') || 'none';

export function startupTable(runs: ReadonlyMap<Variant, StartupRun[]>, rounds: number, cpuNote: string): string[] {
  const out = [
    `### Start-up: spawn to exit, ${rounds} rounds, interleaved (order rotating each round)`,
    '',
    'Wall: `performance.now()` around the spawn and the exit as this process sees it. ' +
      (cpuNote === ''
        ? 'CPU: user + system of the command and the children it waited for (getrusage(RUSAGE_CHILDREN) before and after; a helper that outlives the wrapper is not in it). '
        : `CPU: not measured (${cpuNote}). `) +
      'The first `scidex-run` row is the host\'s default backend; one untimed warm-up run of each came first.',
    '',
    row(['command', 'wall median', 'wall min', 'CPU median', 'CPU min', 'wall / `node -e 0`', 'CPU / `node -e 0`']),
    rule(7),
  ];
  const list = [...runs.keys()];
  const nodeRuns = runs.get(list.find((variant) => variant.role === 'node')!)!;
  const cpus = (values: StartupRun[]): number[] => values.flatMap((run) => (run.cpuMs === undefined ? [] : [run.cpuMs]));
  const nodeWall = median(nodeRuns.map((run) => run.wallMs));
  const nodeCpu = median(cpus(nodeRuns));
  const notes: string[] = [];
  for (const [variant, values] of runs) {
    const wall = values.map((run) => run.wallMs);
    const cpu = cpus(values);
    const wallMedian = median(wall);
    const cpuMedian = median(cpu);
    const ratio = (a: number, b: number): string => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '—' : `${(a / b).toFixed(2)}x`);
    const name = `\`${variant.label}\``;
    out.push(row([variant.role === 'ours' ? `**${name}**` : name, f1(wallMedian), f1(Math.min(...wall)), f1(cpuMedian), cpu.length > 0 ? f1(Math.min(...cpu)) : '—', ratio(wallMedian, nodeWall), ratio(cpuMedian, nodeCpu)]));
    values.forEach((run, i) => {
      if (run.exitCode !== 0 || run.stderr.trim() !== '') notes.push(`- \`${variant.label}\`, round ${i + 1}: exit ${run.exitCode}${run.stderr.trim() ? `, stderr \`${stderrGist(run.stderr)}\`` : ''}`);
    });
  }
  const ours = runs.get(list.find((variant) => variant.role === 'ours')!)!;
  out.push(
    '',
    `Ratio scidex-run / node, wall median: **${(median(ours.map((run) => run.wallMs)) / nodeWall).toFixed(2)}x**` +
      (Number.isNaN(nodeCpu) ? '' : `; CPU median: **${(median(cpus(ours)) / nodeCpu).toFixed(2)}x**`) + '.',
    ...(notes.length > 0 ? ['', ...notes] : []),
    '',
  );
  return out;
}

export function footprintTable(result: FootprintResult): string[] {
  const n = result.count;
  const out = [
    `### Footprint: ${n} wrappers and ${n} idle nodes at once, same run`,
    '',
    `Commands: ${n}× \`bin/scidex-run --quiet --sample-interval 0 -- sleep 60\` (default backend) and ${n}× \`node -e '${IDLE_NODE_SCRIPT}'\`, started interleaved. ` +
      `Read from /proc/PID/smaps_rollup once every wrapper had its leader \`sleep\` as a child (${f1(result.readyMs)} ms after the last spawn) and the summed PSS of each group ` +
      `moved < 1 % between two reads 500 ms apart (${result.settled ? `after ${f1(result.settledMs)} ms` : `**not steady after ${f1(result.settledMs)} ms**, last read used`}). ` +
      'A wrapper counts with its helpers: its direct children but the leader.',
    '',
  ];
  if (result.wrappers.length === n && result.nodes.length === n) {
    const withHelpers = result.wrappers.map((w) => w.own.pssBytes + w.helpers.pssBytes);
    const nodePss = result.nodes.map((m) => m.pssBytes);
    const helperComms = new Map<string, number>();
    for (const comm of result.wrappers.flatMap((w) => w.helperComms)) helperComms.set(comm, (helperComms.get(comm) ?? 0) + 1);
    out.push(
      row(['MiB', 'wrapper + helpers', 'wrapper alone', 'its helpers', 'idle node', 'ratio wrapper + helpers / node']),
      rule(6),
      row(['PSS mean', `**${mib(mean(withHelpers))}**`, mib(mean(result.wrappers.map((w) => w.own.pssBytes))), mib(mean(result.wrappers.map((w) => w.helpers.pssBytes))), `**${mib(mean(nodePss))}**`, `**${(mean(withHelpers) / mean(nodePss)).toFixed(2)}x**`]),
      row(['PSS min / max', `${mib(Math.min(...withHelpers))} / ${mib(Math.max(...withHelpers))}`, '', '', `${mib(Math.min(...nodePss))} / ${mib(Math.max(...nodePss))}`, '']),
      row(['RSS of one (mean)', mib(mean(result.wrappers.map((w) => w.own.rssBytes + w.helpers.rssBytes))), mib(mean(result.wrappers.map((w) => w.own.rssBytes))), mib(mean(result.wrappers.map((w) => w.helpers.rssBytes))), mib(mean(result.nodes.map((m) => m.rssBytes))), `${(mean(result.wrappers.map((w) => w.own.rssBytes)) / mean(result.nodes.map((m) => m.rssBytes))).toFixed(2)}x (wrapper alone)`]),
      '',
      `Helpers seen (all wrappers): ${counts(helperComms)}.`,
    );
  }
  out.push(
    `Stop: SIGTERM by pid to each wrapper: ${counts(result.wrapperExits)}; to each node: ${counts(result.nodeExits)}. ` +
      `Wrappers, leaders, helpers and nodes alive 200 ms after the last exit: ${result.leftAlive.length}${result.leftAlive.length > 0 ? ` (**${result.leftAlive.join('; ')}**)` : ''}.`,
    ...result.stderr.map((line) => `- stderr: \`${line}\``),
    '',
  );
  return out;
}

export function fleetTable(result: FleetResult | string): string[] {
  if (typeof result === 'string') return ['### Fleet', '', `Skipped: ${result}.`, ''];
  const { options, window } = result;
  const out = [
    `### Fleet: ${options.runs} concurrent runs, \`--tracking cgroup\`, one state directory, no database`,
    '',
    `Command: ${options.runs}× \`bin/scidex-run --tracking cgroup --quiet -- sleep ${options.sleepSeconds}\`, started ${options.batch} at a time ` +
      '(the next batch once each run of this one has its journal and its leader). CPU: utime + stime from /proc/PID/stat of every wrapper and helper alive ' +
      `at both ends of a ${options.windowSeconds} s window, clock ticks at ${options.clockTicksPerSecond}/s; PSS read right after the window.`,
    '',
    row(['measure', 'value']),
    rule(2),
    row(['started', result.started]),
    row(['wall time to start all (first spawn to last batch ready)', `${f1(result.startAllMs / 1000)} s`]),
  ];
  if (window) {
    out.push(
      row(['wrappers / helpers measured over the window', `${window.wrappers} / ${window.helpers} (${counts(window.helperComms)})`]),
      row(['runs already ended before the window', result.endedBeforeWindow > 0 ? `**${result.endedBeforeWindow}** (raise --fleet-sleep)` : 0]),
      row([`CPU of wrappers + helpers over ${f1(window.seconds)} s`, `**${((window.cpuSeconds / window.seconds) * 100).toFixed(2)} % of one core** (${(window.cpuSeconds * 1000).toFixed(0)} ms; ${((window.cpuSeconds / window.seconds / window.wrappers) * 100).toFixed(4)} % per run)`]),
      row(['processes that exited during the window (not counted)', window.lost > 0 ? `**${window.lost}**` : 0]),
      row(['PSS of wrappers + helpers, summed', `**${mib(window.pssBytes)} MiB** (${mib(window.pssBytes / window.wrappers)} MiB per run)`]),
      row(['RSS of wrappers + helpers, summed', `${mib(window.rssBytes)} MiB`]),
      row(['1-minute load average at the window start / end', `${window.load[0].toFixed(2)} / ${window.load[1].toFixed(2)}`]),
    );
  }
  out.push(
    row(['time from the window end (or the failure) to the last exit', `${f1(result.endMs / 1000)} s`]),
    row(['wrapper exits', counts(result.exits)]),
    row(['still running long after their sleep, SIGTERMed by pid', result.forced]),
    row(['journals', result.journals]),
    row(['last run row status per journal', (result.statuses.get('completed') ?? 0) === result.started && result.journals === result.started ? `completed ×${result.started}` : `**${counts(result.statuses)}**`]),
    row(['unparseable journal lines', result.unparseable]),
  );
  if (window && (result.endedBeforeWindow > 0 || window.lost > 0)) {
    out.push('', `**The CPU and PSS figures are not those of ${options.runs} running runs**: ${result.endedBeforeWindow} had ended before the window and ` +
      `${window.lost} processes exited during it, because starting all took ${f1(result.startAllMs / 1000)} s of the ${options.sleepSeconds} s each sleeps. ` +
      `Run again with --fleet-sleep above start time + window (${Math.ceil(result.startAllMs / 1000 + window.seconds)} s here) plus a margin.`);
  }
  if (result.error) out.push('', `**Failed: ${result.error}**`);
  if (result.stderr.length > 0) out.push('', 'Wrappers\' stderr, grouped:', '', ...result.stderr.map((line) => `- ${line}`));
  out.push('');
  return out;
}
