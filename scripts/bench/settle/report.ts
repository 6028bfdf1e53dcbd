// The Markdown tables of the settle benchmark, from the series and runs main.ts gathered. Nothing is
// hidden: a run that failed, printed something, or left a straggler past the cap is listed under the
// tables. Delays and times are milliseconds; quantiles as in ../tracking/stats.ts.
import type { RunObservation } from './leftovers.js';
import type { TimedRun } from './overhead.js';
import { median, quantile } from '../tracking/stats.js';

/** The runs of one fixture under one load. */
export interface Series {
  fixture: string;
  load: 'idle' | 'busy';
  runs: RunObservation[];
  /** 1-minute load average at the start and the end of the series. */
  loadavg: [number, number];
}

const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const rule = (columns: number): string => `|${'---|'.repeat(columns)}`;
const f1 = (value: number): string => (Number.isNaN(value) ? '—' : value.toFixed(1));
const LOADS = { idle: 'idle', busy: '2 busy loops' } as const;

/** `2 ×19, 3 ×1`: how many runs had each count. */
function histogram(values: readonly (string | number)[]): string {
  const counts = new Map<string | number, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([value, n]) => `${value} ×${n}`).join(', ');
}

export function leftoverTables(series: readonly Series[], pollMs: number, capMs: number): string[] {
  const out = [
    `Leftovers: each fixture run bare in a session of its own, /proc polled every ~${pollMs} ms (event loop blocked, so the ` +
      `leader shows as a zombie at the first poll after its exit). Delay = last poll that saw the leftover alive (not a zombie) ` +
      `minus the first poll that saw the leader dead, in ms; either end is exact to one poll interval (column "poll"). Cap ${capMs / 1000} s after the leader.`,
    '',
    row(['fixture', 'load', 'runs', 'leftovers per run', 'what they are (all runs)', 'delay min', 'median', 'p95', 'max', 'poll interval median / max', 'leader runtime median']),
    rule(11),
  ];
  for (const s of series) {
    const delays = s.runs.flatMap((run) => run.leftovers.map((left) => left.delayMs));
    const intervals = s.runs.flatMap((run) => run.intervalsMs);
    const failed = s.runs.filter((run) => run.exitCode !== 0).length;
    out.push(
      row([
        s.fixture,
        LOADS[s.load],
        `${s.runs.length}${failed > 0 ? ` (**${failed} failed**)` : ''}`,
        histogram(s.runs.map((run) => run.leftovers.length)),
        histogram(s.runs.flatMap((run) => run.leftovers.map((left) => left.kind))),
        f1(Math.min(...delays)),
        f1(median(delays)),
        f1(quantile(delays, 0.95)),
        `**${f1(Math.max(...delays))}**`,
        `${f1(median(intervals))} / ${f1(Math.max(...intervals))}`,
        f1(median(s.runs.map((run) => run.leaderMs))),
      ]),
    );
  }
  out.push('', 'By kind of leftover (delay in ms):', '', row(['fixture', 'load', 'kind', 'count', 'median', 'p95', 'max']), rule(7));
  for (const s of series) {
    const kinds = [...new Set(s.runs.flatMap((run) => run.leftovers.map((left) => left.kind)))].sort();
    for (const kind of kinds) {
      const delays = s.runs.flatMap((run) => run.leftovers.filter((left) => left.kind === kind).map((left) => left.delayMs));
      out.push(row([s.fixture, LOADS[s.load], kind, delays.length, f1(median(delays)), f1(quantile(delays, 0.95)), f1(Math.max(...delays))]));
    }
  }
  const all = (load: Series['load']): number[] => series.filter((s) => s.load === load).flatMap((s) => s.runs.flatMap((run) => run.leftovers.map((left) => left.delayMs)));
  out.push('');
  for (const load of ['idle', 'busy'] as const) {
    const delays = all(load);
    if (delays.length > 0) out.push(`- ${LOADS[load]}, all fixtures: ${delays.length} leftovers, delay median ${f1(median(delays))} ms, p95 ${f1(quantile(delays, 0.95))} ms, max ${f1(Math.max(...delays))} ms`);
  }
  for (const s of series) {
    out.push(`- ${s.fixture}, ${LOADS[s.load]}: 1-minute load average ${s.loadavg[0].toFixed(2)} at the start, ${s.loadavg[1].toFixed(2)} at the end`);
    s.runs.forEach((run, i) => {
      const odd = [
        run.exitCode !== 0 ? `exit ${run.exitCode}` : '',
        run.stragglers.length > 0 ? `**alive ${capMs / 1000} s after the leader, killed by pid**: ${run.stragglers.join('; ')}` : '',
        run.stderr.trim() !== '' ? `stderr: \`${run.stderr.trim().split('\n').slice(-3).join(' / ').slice(0, 300)}\`` : '',
      ].filter(Boolean);
      if (odd.length > 0) out.push(`  - run ${i + 1}: ${odd.join('; ')}`);
    });
  }
  out.push('');
  return out;
}

export function overheadTable(results: ReadonlyMap<string, ReadonlyMap<string, TimedRun[]>>, backends: readonly string[], rounds: number): string[] {
  const out = [
    `Wall time, spawn to exit, median of ${rounds} runs each, interleaved (order rotating each round): the fixture bare, and under ` +
      '`bin/scidex-run --quiet --tracking B --` (ratio to bare, difference in ms). "orphans / kills" is what the current product ' +
      'recorded per wrapped run (median orphan_found / process_killed events in its journal).',
    '',
    row(['fixture', 'bare', ...backends.map((b) => `scidex-run, ${b}`), ...backends.map((b) => `${b}: orphans / kills`)]),
    rule(2 + backends.length * 2),
  ];
  const notes: string[] = [];
  for (const [fixture, runs] of results) {
    const bare = median(runs.get('bare')!.map((run) => run.wallMs));
    const cells = backends.map((backend) => {
      const wall = median(runs.get(backend)!.map((run) => run.wallMs));
      return `${Math.round(wall)} ms (${(wall / bare).toFixed(2)}x, ${wall >= bare ? '+' : ''}${Math.round(wall - bare)} ms)`;
    });
    const kills = backends.map((backend) => {
      const wrapped = runs.get(backend)!;
      return `${median(wrapped.map((run) => run.orphans ?? 0))} / ${median(wrapped.map((run) => run.kills ?? 0))}`;
    });
    out.push(row([fixture, `${Math.round(bare)} ms`, ...cells, ...kills]));
    for (const [variant, list] of runs) {
      list.forEach((run, i) => {
        if (run.exitCode !== 0 || run.stderr.trim() !== '') {
          notes.push(`- ${fixture}, ${variant}, run ${i + 1}: exit ${run.exitCode}${run.stderr.trim() ? `, stderr \`${run.stderr.trim().split('\n').slice(-3).join(' / ').slice(0, 300)}\`` : ''}`);
        }
      });
      if (variant !== 'bare') notes.push(`- ${fixture}, ${variant}: orphan_found per run ${histogram(list.map((r) => r.orphans ?? 0))}; signal_sent ${histogram(list.map((r) => r.signals ?? 0))}; process_killed ${histogram(list.map((r) => r.kills ?? 0))}; wall times ${list.map((r) => Math.round(r.wallMs)).join(', ')} ms`);
      else notes.push(`- ${fixture}, bare: wall times ${list.map((r) => Math.round(r.wallMs)).join(', ')} ms`);
    }
  }
  out.push('', ...notes, '');
  return out;
}
