// The Markdown table of the shipping part, from what the measures return, and the notes under it:
// counts that fell short (bold), wrapper stderr grouped by shape, anything killed at the end.
import { median, quantile } from '../tracking/stats.js';
import type { LagResult } from './lag.js';
import type { PeakResult } from './peak.js';
import type { TrafficRow } from './roundtrips.js';
import type { ShipComparison, Side } from './throughput.js';

const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const n = (value: number): string => Math.round(value).toLocaleString('en-US');
const ms = (value: number): string => (Number.isNaN(value) ? '—' : value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`);
const pct = (values: number[]): string => `p50 ${ms(quantile(values, 0.5))}, p99 ${ms(quantile(values, 0.99))} (n=${values.length})`;

export class Report {
  readonly rows: string[] = [row(['measure', 'scidex-run', 'bare pg baseline', 'ratio']), '|---|---|---|---|'];
  readonly notes: string[] = [];

  private note(measure: string, lines: readonly string[]): void {
    for (const line of new Set(lines)) this.notes.push(`- ${measure}: ${line}`);
  }

  shipping(label: string, result: ShipComparison): void {
    const seconds = (side: Side): number => median(side.ms) / 1000;
    const rate = (side: Side): number => result.lines / seconds(side);
    const cell = (side: Side): string =>
      `${n(rate(side))} records/s (${seconds(side).toFixed(2)} s${side.ms.length > 1 ? `, median of ${side.ms.length}` : ''})${side.complete ? '' : ' **incomplete**'}`;
    const what = `${label}: ${n(result.lines)} records in ${n(result.journals)} journal${result.journals > 1 ? 's' : ''}`;
    const ratio = `scidex-run at ${(rate(result.product) / rate(result.baseline)).toFixed(3)}x the baseline's rate`;
    this.rows.push(row([what, cell(result.product), cell(result.baseline), ratio]));
    this.note(label, [
      `rows after each rep, scidex-run: ${result.product.counts.join(' | ')}`,
      `rows after each rep, baseline: ${result.baseline.counts.join(' | ')}`,
      ...result.product.notes,
    ]);
  }

  lag(result: LagResult): void {
    const both = [...result.lags.run_started, ...result.lags.run_finished];
    const label = `2. shipping lag, \`at\` to row committed, ${result.runs} runs of \`sleep 0.2\`, ${result.concurrency} at a time`;
    const ratio = `p50 ${(quantile(both, 0.5) / quantile(result.baseline, 0.5)).toFixed(1)}x the baseline's`;
    this.rows.push(row([`${label}: run_started + run_finished`, pct(both), `fresh connection + 1 INSERT, alone: ${pct(result.baseline)}`, ratio]));
    for (const kind of ['run_started', 'run_finished'] as const) this.rows.push(row([`${label}: ${kind} only`, pct(result.lags[kind]), '', '']));
    this.note(`lag, ${result.concurrency} at a time`, [`the ${result.runs} runs took ${(result.wallMs / 1000).toFixed(1)} s`, ...result.notes]);
  }

  traffic(rows: readonly TrafficRow[]): void {
    for (const traffic of rows) {
      const med = (key: 'connections' | 'roundTrips' | 'statements' | 'bytesUp' | 'bytesDown'): string => n(median(traffic.perRun.map((run) => run[key])));
      const cell = `${med('connections')} connections, ${med('roundTrips')} round trips, ${med('statements')} statements, ${med('bytesUp')} B up / ${med('bytesDown')} B down`;
      const each = traffic.perRun.length > 1
        ? ` (median of ${traffic.perRun.length}; each run's connections/round trips/statements: ${traffic.perRun.map((run) => `${run.connections}/${run.roundTrips}/${run.statements}`).join(', ')})`
        : '';
      this.rows.push(row([`4. database traffic per run, ${traffic.label}`, traffic.baseline ? '' : cell + each, traffic.baseline ? cell : '', '']));
      this.note(`traffic, ${traffic.label}`, traffic.notes);
    }
  }

  peak(result: PeakResult): void {
    const exits = result.failed === 0 ? `all ${result.runs} exited 0` : `**${result.failed} of ${result.runs} exited non-zero**`;
    const rows = (count: number): string => (count === result.runs ? `${count}/${result.runs}` : `**${count}/${result.runs}**`);
    this.rows.push(row([
      `5. peak scidex-run connections, ${result.runs} wrappers started at once, each running ${result.command}, ${result.server}`,
      `peak ${result.peak} (polled every ${result.pollMs.toFixed(0)} ms on average; all client backends on the server: ${result.before} before, peak ${result.peakAll}); at most ${result.overlap} runs in progress at once; ` +
        `wall ${(result.wallMs / 1000).toFixed(1)} s${result.tailMs === undefined ? '' : `, the last exit ${(result.tailMs / 1000).toFixed(2)} s after the shared moment`}; ${exits}; ` +
        `completed run rows at the last exit ${rows(result.rowsAtExit)}, once background shippers ended ${rows(result.rowsAfter)}; journals not marked shipped: ${result.unshipped}`,
      '',
      '',
    ]));
    this.note(`peak, ${result.command}, ${result.server}`, result.notes);
  }

  toString(): string {
    return [...this.rows, '', ...(this.notes.length > 0 ? ['Notes:', '', ...this.notes] : [])].join('\n');
  }
}
