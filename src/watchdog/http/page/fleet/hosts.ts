/**
 * The fleet view's hosts (#hosts-body): one `tr[data-host][data-daemon]` per host, class
 * `daemon-<up|stale|none>`, with cells .host, .daemon, .heartbeat (its age), .version, .listen,
 * .running and .kills (with data-kills).
 */
import type { FleetHost } from '../../../../query/fleet-body.js';
import { el, fillBody } from '../dom.js';
import { ago, DASH, duration } from '../../../../query/words/format.js';

/** How each daemon state reads. */
const DAEMON_WORDS: Record<FleetHost['daemon'], string> = {
  up: 'up',
  stale: 'stale: no heartbeat for 3 intervals',
  none: 'no daemon recorded',
};

function hostRow(host: FleetHost): HTMLTableRowElement {
  const row = el('tr', `daemon-${host.daemon}`);
  row.setAttribute('data-host', host.host);
  row.setAttribute('data-daemon', host.daemon);
  const daemon = el('td', 'daemon', DAEMON_WORDS[host.daemon] ?? host.daemon);
  if (host.daemon_pid !== null) daemon.title = `pid ${host.daemon_pid}${host.interval_ms === null ? '' : `, sweeps every ${duration(host.interval_ms)}`}`;
  const heartbeat = el('td', 'heartbeat', host.heartbeat_age_ms === null ? DASH : ago(host.heartbeat_age_ms));
  if (host.heartbeat_at !== null) heartbeat.title = host.heartbeat_at;
  const kills = el('td', 'kills', String(host.kills_24h));
  kills.setAttribute('data-kills', String(host.kills_24h));
  row.append(
    el('td', 'host', host.host),
    daemon,
    heartbeat,
    el('td', 'version', host.version ?? DASH),
    el('td', 'listen', host.listen ?? DASH),
    el('td', 'running', String(host.running)),
    kills,
  );
  return row;
}

/** Redraws #hosts-body. */
export function renderHosts(hosts: readonly FleetHost[]): void {
  fillBody('hosts-body', hosts.map(hostRow), 7, 'no host has a daemon or a run recorded in the last 24 h');
}
