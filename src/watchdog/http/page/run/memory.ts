/**
 * The run's tree memory over its elapsed time: the chart (#memory-chart, chart.ts: series `RSS`,
 * `PSS` where it was read, `limit` when the run has one; the kill, kill-moment.ts, as a
 * vertical line, its elapsed ms in #memory-chart[data-mark-x] as seconds) and the same figures as
 * text, the source of truth (#samples-body: one `tr[data-elapsed-ms][data-rss-bytes]
 * [data-pss-bytes][data-kind]` per sample, kind `sample`, `peak` or `tick`, with cells .elapsed,
 * .at, .rss, .pss, .processes, .kind, .top (a tick's biggest processes); the row at or just before the kill has class `at-kill`), and
 * #kill-at (when it was killed, in words, with data-elapsed-ms).
 */
import type { RunView } from '../../../../query/run-view-body.js';
import type { SampleRecord } from '../../../../record/types.js';
import { BYTE_STEPS, drawChart } from '../chart.js';
import { el, fillBody, hook } from '../dom.js';
import { bytes, clock, DASH, duration } from '../../../../query/words/format.js';
import { killMoment, type KillMoment } from './kill-moment.js';

/** The biggest processes of a tick, as `python3 1002 1.9 GiB, sh 1001 2.0 MiB`; a dash where none were read. */
function topText(sample: SampleRecord): string {
  const top = sample.top_processes;
  if (!top || top.length === 0) return DASH;
  return top.map((p) => `${p.comm} ${p.pid} ${bytes(p.rss_bytes)}`).join(', ');
}

/** What a sample was written for. */
function kindOf(sample: SampleRecord): 'tick' | 'peak' | 'sample' {
  return sample.tick ? 'tick' : sample.peak ? 'peak' : 'sample';
}

function sampleRow(sample: SampleRecord, atKill: boolean): HTMLTableRowElement {
  const kind = kindOf(sample);
  const row = el('tr', `${kind}${atKill ? ' at-kill' : ''}`);
  row.setAttribute('data-elapsed-ms', String(sample.elapsed_ms));
  row.setAttribute('data-rss-bytes', String(sample.rss_bytes));
  row.setAttribute('data-pss-bytes', sample.pss_bytes === null ? '' : String(sample.pss_bytes));
  row.setAttribute('data-kind', kind);
  const at = el('td', 'at', clock(sample.at));
  at.title = sample.at;
  row.append(
    el('td', 'elapsed', duration(sample.elapsed_ms)),
    at,
    el('td', 'rss', bytes(sample.rss_bytes)),
    el('td', 'pss', sample.pss_bytes === null ? DASH : bytes(sample.pss_bytes)),
    el('td', 'processes', String(sample.process_count)),
    el('td', 'kind', kind),
    el('td', 'top small', topText(sample)),
  );
  return row;
}

/** The index of the last sample at or before the kill, or -1. */
function lastBefore(samples: readonly SampleRecord[], kill: KillMoment | null): number {
  if (!kill) return -1;
  let index = -1;
  samples.forEach((sample, i) => {
    if (sample.elapsed_ms <= kill.elapsed_ms) index = i;
  });
  return index;
}

/** Draws the chart, its table and #kill-at from the view's samples and events. */
export function renderMemory(view: RunView): void {
  const samples: SampleRecord[] = [...view.samples].sort((a, b) => a.elapsed_ms - b.elapsed_ms);
  const kill = killMoment(view.events);
  const killText = kill ? `killed at ${duration(kill.elapsed_ms)} (${kill.kind})` : '';
  const killHook = hook('kill-at');
  killHook.textContent = killText;
  if (kill) killHook.setAttribute('data-elapsed-ms', String(kill.elapsed_ms));
  else killHook.removeAttribute('data-elapsed-ms');

  const limit = view.run.memory_limit_bytes;
  const x = samples.map((sample) => sample.elapsed_ms / 1000);
  const hasPss = samples.some((sample) => sample.pss_bytes !== null);
  drawChart(hook('memory-chart'), {
    x,
    xValue: (seconds) => duration(seconds * 1000),
    yValue: (value) => bytes(value),
    yIncrs: BYTE_STEPS,
    series: [
      { label: 'RSS', values: samples.map((sample) => sample.rss_bytes), color: '--accent' },
      ...(hasPss ? [{ label: 'PSS', values: samples.map((sample) => sample.pss_bytes), color: '--warn' }] : []),
      ...(limit > 0 ? [{ label: 'limit', values: samples.map(() => limit), color: '--crit', dashed: true }] : []),
    ],
    mark: kill ? { x: kill.elapsed_ms / 1000, label: killText } : null,
  });
  const atKill = lastBefore(samples, kill);
  fillBody('samples-body', samples.map((sample, i) => sampleRow(sample, i === atKill)), 7, 'no sample was recorded');
}
