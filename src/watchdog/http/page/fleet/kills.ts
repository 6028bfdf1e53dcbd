/**
 * The kills per host and hour of the last 24 h: the chart (#kills-chart, chart.ts: one stepped series
 * per host, named by the host, over the hours as clock times) and the same figures as text, the source
 * of truth (#kills-head: a `th[data-host]` per host; #kills-body: one `tr[data-hour]` per hour,
 * oldest first, with a .hour cell and a `td.kills[data-host][data-kills]` per host).
 */
import type { FleetKillHour } from '../../../../query/fleet-body.js';
import { COUNT_STEPS, drawChart } from '../chart.js';
import { el, fillBody, hook } from '../dom.js';
import { clock } from '../../../../query/words/format.js';

/** Series colours: the page's own, then fixed ones (colour-blind safe, after Okabe and Ito). */
const PALETTE = ['--accent', '--crit', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442'];

/** The hours (ascending) and hosts (by name) of the buckets, and the kills of each host per hour. */
function table(kills: readonly FleetKillHour[]): { hours: string[]; hosts: string[]; count: (host: string, hour: string) => number } {
  const hours = [...new Set(kills.map((k) => k.hour))].sort((a, b) => Date.parse(a) - Date.parse(b));
  const hosts = [...new Set(kills.map((k) => k.host))].sort();
  const counts = new Map(kills.map((k) => [`${k.host}\n${k.hour}`, k.kills]));
  return { hours, hosts, count: (host, hour) => counts.get(`${host}\n${hour}`) ?? 0 };
}

/** Redraws the chart and its table. */
export function renderKills(kills: readonly FleetKillHour[]): void {
  const { hours, hosts, count } = table(kills);
  drawChart(hook('kills-chart'), {
    x: hours.map((hour) => Date.parse(hour) / 1000),
    time: true,
    yValue: (value) => String(value),
    yIncrs: COUNT_STEPS,
    steps: true,
    series: hosts.map((host, i) => ({ label: host, values: hours.map((hour) => count(host, hour)), color: PALETTE[i % PALETTE.length] })),
    height: 220,
  });
  const head = el('tr');
  head.append(el('th', '', 'Hour'));
  for (const host of hosts) {
    const th = el('th', '', host);
    th.setAttribute('scope', 'col');
    th.setAttribute('data-host', host);
    head.append(th);
  }
  hook('kills-head').replaceChildren(head);
  const rows = hours.map((hour) => {
    const row = el('tr');
    row.setAttribute('data-hour', hour);
    const start = el('td', 'hour', `from ${clock(hour)}`);
    start.title = hour;
    row.append(start);
    for (const host of hosts) {
      const n = count(host, hour);
      const cell = el('td', 'kills', String(n));
      cell.setAttribute('data-host', host);
      cell.setAttribute('data-kills', String(n));
      row.append(cell);
    }
    return row;
  });
  fillBody('kills-body', rows, hosts.length + 1, 'no host to count kills of');
}
