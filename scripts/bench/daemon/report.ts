// The Markdown table of the daemon part, from what the measures return, and the notes under it:
// counts that fell short (bold), stderr of the daemon and the wrappers, anything killed at the end.
import { median, quantile } from '../tracking/stats.js';
import type { CancelResult, CancelSide } from './cancel.js';
import type { FleetStop, FootprintResult } from './footprint.js';
import type { Load, ScrapeResult } from './scrape.js';
import type { Footprint } from './serve.js';

const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const ms = (value: number): string => (Number.isNaN(value) ? '—' : value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`);
const mib = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
const p50max = (values: number[]): string => `p50 ${ms(median(values))}, max ${ms(Math.max(...values))}`;
const rate = (value: number): string => Math.round(value).toLocaleString('en-US');

export class Report {
  readonly rows: string[] = [row(['measure', 'scidex-watchdog / scidex-run', 'peer', 'ratio / target']), '|---|---|---|---|'];
  readonly notes: string[] = [];

  footprint(result: FootprintResult): void {
    const rss = (print: Footprint): string => `median ${mib(median(print.rss))}, max ${mib(Math.max(...print.rss))}`;
    const sweeps = (print: Footprint): string =>
      print.sweeps.length === 0 ? 'none ended' : `${print.sweeps.length} ended, ${print.sweeps.map((sweep) => `${sweep.ms} ms${sweep.error ? ` (error: ${sweep.error})` : ''}`).join(', ')}`;
    const { idle, busy } = result;
    if (!busy) {
      this.rows.push(row([`1. daemon RSS, idle (0 runs), ${idle.seconds} s`, rss(idle), '', '']));
      this.rows.push(row([`1. daemon CPU, idle (0 runs), ${idle.seconds} s`, `${idle.cpuPercent.toFixed(2)} % of one core`, '', '']));
      return;
    }
    this.rows.push(row([`1. daemon RSS, ${result.runs} running runs, VmRSS every 1 s over ${busy.seconds} s`, rss(busy), `the same daemon idle (0 runs): ${rss(idle)}`, `+${mib(median(busy.rss) - median(idle.rss))} (median)`]));
    this.rows.push(row([
      `1. daemon CPU, ${result.runs} running runs, utime+stime over ${busy.seconds} s`,
      `${busy.cpuPercent.toFixed(2)} % of one core (busiest second ${Math.max(...busy.cpuSteps).toFixed(0)} %)`,
      `idle: ${idle.cpuPercent.toFixed(2)} % (busiest second ${Math.max(...idle.cpuSteps).toFixed(0)} %)`,
      `${(busy.cpuPercent / Math.max(idle.cpuPercent, 1e-9)).toFixed(1)}x`,
    ]));
    this.notes.push(`- footprint: ${result.runs} wrappers started at once were all monitored (/status monitored_count) ${((result.startMs ?? 0) / 1000).toFixed(1)} s after the first spawn`);
    this.notes.push(`- footprint: sweeps in the idle window: ${sweeps(idle)}; with ${result.runs} runs: ${sweeps(busy)}`);
    this.notes.push(`- footprint: 1-minute load average at the start of the idle window ${result.load.idle.toFixed(2)}, of the busy one ${result.load.busy?.toFixed(2)}`);
  }

  scrape(result: ScrapeResult, runs: number): void {
    const cell = (load: Load): string =>
      `p50 ${ms(quantile(load.latencies, 0.5))}, p99 ${ms(quantile(load.latencies, 0.99))}, ${rate(median(load.rates))} req/s${load.failures > 0 ? ` **${load.failures} failed**` : ''}`;
    const n = result.daemon.latencies.length;
    this.rows.push(row([
      `2. \`GET ${result.path}\` (${result.daemon.bodyBytes.toLocaleString('en-US')} B), ${result.clients} keep-alive clients x ${result.requests} sequential GETs, ${runs} runs up (${n} requests over ${result.reps} reps)`,
      cell(result.daemon),
      `fixed body, node:http in a process of its own: ${cell(result.peerProcess)}; in the bench process: ${cell(result.peerInProcess)}`,
      `${(median(result.daemon.rates) / median(result.peerProcess.rates)).toFixed(2)}x the req/s of its own-process floor`,
    ]));
    if (result.rssAfter !== undefined) this.notes.push(`- scrape ${result.path}: the daemon's VmRSS right after: ${mib(result.rssAfter)}`);
  }

  fleetStop(stop: FleetStop, runs: number): void {
    const exits = [...stop.exits].map(([code, count]) => `${count}x exit ${code}`).join(', ');
    const ok = stop.exits.get(143) === runs && stop.forced === 0;
    this.notes.push(
      `- stopping the ${runs} runs: one \`scidex-watchdog cancel --analysis-id\` took ${ms(stop.cancel.ms)} (exit ${stop.cancel.exitCode}); ` +
        `the last wrapper exited ${ms(stop.lastExitMs)} after its start; ${ok ? exits : `**${exits}; ${stop.forced} SIGTERMed by pid after 60 s**`}`,
    );
    for (const line of stop.stderr) this.notes.push(`- stderr of the ${runs} wrappers: ${line}`);
    if (stop.cancel.exitCode !== 0) this.notes.push(`- **cancel --analysis-id stderr**: ${stop.cancel.stderr.trim().split('\n').slice(0, 5).join(' / ')}`);
  }

  cancel(result: CancelResult): void {
    const exits = (values: number[]): string => {
      const counts = new Map<number, number>();
      for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
      const text = [...counts].map(([code, count]) => `${count}x ${code}`).join(', ');
      return values.every((value) => value === 143) ? `exits ${text}` : `**exits ${text}**`;
    };
    const note = (label: string, sideOf: CancelSide): void => {
      for (const line of new Set(sideOf.notes)) this.notes.push(`- ${label}: ${line}`);
    };
    const node = p50max(result.nodeMs);
    if (result.local) {
      const { cli, kill } = result.local;
      this.rows.push(row([
        `3a. cancel, same host: \`scidex-watchdog cancel RUN --state-dir D\` spawned to the wrapper's exit, ${result.runs} runs of \`sleep 60\``,
        `${p50max(cli.exitMs)} (${exits(cli.exits)})`,
        `\`kill -TERM <wrapper pid>\` from the bench to its exit: ${p50max(kill.exitMs)} (${exits(kill.exits)})`,
        `+${ms(median(cli.exitMs) - median(kill.exitMs))} (p50)`,
      ]));
      this.rows.push(row([`3a. ... the CLI's own run time`, p50max(cli.cliMs), `\`node -e 0\`: ${node}`, `${(median(cli.cliMs) / median(result.nodeMs)).toFixed(2)}x`]));
      this.rows.push(row([
        `3a. ... CLI spawned to the wrapper's \`cancel_requested\` (journal)`,
        p50max(cli.effectMs),
        kill.effectMs.length > 0 ? `kill to \`cancel_requested\`: ${p50max(kill.effectMs)}` : '',
        '',
      ]));
      note('cancel, same host, CLI', cli);
      note('cancel, same host, kill -TERM', kill);
    }
    if (result.remote) {
      const { cli, notifyMs } = result.remote;
      this.rows.push(row([
        `3b. cancel across PostgreSQL: the CLI with an empty state dir, \`serve\` on the run's state dir delivers; CLI spawned to the wrapper's exit, ${result.runs} runs`,
        `${p50max(cli.exitMs)} (${exits(cli.exits)})`,
        '',
        `target: within 2 s: ${Math.max(...cli.exitMs) < 2000 ? 'met' : '**missed**'}`,
      ]));
      this.rows.push(row([
        `3b. ... the request's \`requested_at\` (stamped by the CLI) to the wrapper's \`cancel_requested\``,
        p50max(cli.fromRequestMs),
        `fresh connection + \`NOTIFY\` to a \`LISTEN\`ing connection: ${p50max(notifyMs)}`,
        `target: within 2 s: ${Math.max(...cli.fromRequestMs) < 2000 ? 'met' : '**missed**'}`,
      ]));
      this.rows.push(row([`3b. ... \`requested_at\` to \`handled_at\` (the daemon's delivery, in the row)`, p50max(cli.handledMs), '', '']));
      this.rows.push(row([`3b. ... CLI spawned to \`cancel_requested\`; the CLI's own run time`, `${p50max(cli.effectMs)}; CLI ${p50max(cli.cliMs)}`, `\`node -e 0\`: ${node}`, '']));
      note('cancel through PostgreSQL', cli);
    }
  }

  toString(): string {
    return [...this.rows, '', ...(this.notes.length > 0 ? ['Notes:', '', ...this.notes] : [])].join('\n');
  }
}
