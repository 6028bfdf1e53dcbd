/**
 * The top of the live page: the host (#host, #version), the daemon's health (#daemon-state,
 * #sweep, #database, #updated), the host's memory and the pressure guard (#host-memory, #guard), the counts (#count-monitored, #count-grace, #count-kills) and the
 * #unreachable banner. Ages are drawn from the clock as well as from /status, so tick() redraws
 * them every second between reads.
 */
import type { HostStatus } from '../../../status-body.js';
import { hook, setState, setText, setTitle } from '../dom.js';
import { ago, bytes, clock, duration } from '../../../../query/words/format.js';

/** What the page last read from /status, when, and why the newest read failed. */
export interface Reading {
  status: HostStatus | null;
  /** Date.now() of the read that gave `status`, ms. */
  atMs: number;
  /** Why the newest read failed; null when it succeeded. */
  error: string | null;
}

/** A sweep older than this is late, in ms: one and a half of serve's default --interval (10 s). */
const LATE_SWEEP_MS = 15_000;

/** The server's clock now, without trusting ours: its started_at plus uptime at the read, plus the time since. */
function serverNow(status: HostStatus, atMs: number): number {
  const atRead = Date.parse(status.daemon.started_at) + status.daemon.uptime_seconds * 1000;
  return (Number.isFinite(atRead) ? atRead : Date.now()) + (Date.now() - atMs);
}

/** How each database state of /status is shown: text and class. */
const DATABASE: Record<HostStatus['daemon']['database'], readonly [text: string, state: string]> = {
  ok: ['ok', 'good'],
  down: ['down', 'bad'],
  none: ['not configured', 'muted'],
};

/** Draws what comes straight from a /status read: host, version, counts. */
export function renderHeader(status: HostStatus): void {
  setText('host', status.host || 'unknown host');
  setText('version', status.version ? `scidex-run ${status.version}` : '');
  setTitle(`scidex-run \u00b7 ${status.host || 'watchdog'}`);
  setText('count-monitored', String(status.monitored_count));
  setText('count-grace', String(status.grace_count));
  setText('count-kills', String(status.kills_last_24h));
  renderGuard(status);
}

/**
 * The host's memory against the guard's floor (`21.3 GiB available of 24.0 GiB (floor 1.2 GiB), PSI
 * full 0.0 %`: red below the floor, amber near a threshold) and the guard's stops.
 */
function renderGuard(status: HostStatus): void {
  const guard = status.pressure_guard;
  if (!guard) return;
  const available = guard.mem_available_bytes;
  const psi = guard.psi_full_avg10 === null ? '' : `, PSI full ${guard.psi_full_avg10.toFixed(1)} %`;
  const floor = guard.enabled ? ` (floor ${bytes(guard.min_available_bytes)})` : '';
  const memory = available === null ? 'unknown' : `${bytes(available)} available of ${bytes(guard.mem_total_bytes)}${floor}${psi}`;
  const below = guard.enabled && available !== null && available < guard.min_available_bytes;
  setState('host-memory', memory, !guard.enabled ? 'muted' : below ? 'bad' : guard.near ? 'stale' : 'good');
  if (!guard.enabled) return setState('guard', 'off', 'muted');
  const last = guard.last_stop;
  if (!last) return setState('guard', 'on, no stop yet', 'good');
  const run = last.analysis_id ?? last.run_id.slice(0, 8);
  const by = last.by === 'daemon' ? ', its wrapper did not act: ended by the daemon' : last.by === 'reaper' ? ', its wrapper died: ended by its reaper' : '';
  const text = `${guard.stops} stop${guard.stops === 1 ? '' : 's'}; last ${clock(last.at)}: ${run} (tree PSS ${bytes(last.run_pss_bytes)}${by})`;
  setState('guard', text, 'stale');
}


/** Draws what depends on the clock too: the banner, the ages, the daemon's health. Runs every second and after each read. */
export function tick({ status, atMs, error }: Reading): void {
  const sinceRead = Date.now() - atMs;
  const banner = hook('unreachable');
  if (error !== null) {
    banner.hidden = false;
    banner.textContent = `daemon unreachable: ${error}${status ? ` \u2014 showing data from ${ago(sinceRead)}` : ''}`;
    setState('daemon-state', 'unreachable', 'bad');
  } else if (status) {
    banner.hidden = true;
  }
  setText('updated', status ? `updated ${ago(sinceRead)}` : 'waiting for the first update\u2026');
  if (!status) return;
  const { daemon } = status;
  if (error === null) setState('daemon-state', `up for ${duration(daemon.uptime_seconds * 1000 + sinceRead)} (pid ${daemon.pid})`, 'good');
  const sweep = daemon.last_sweep;
  if (sweep === null) {
    setState('sweep', 'no sweep yet', 'stale');
  } else {
    const age = serverNow(status, atMs) - Date.parse(sweep.at);
    const text = `${ago(age)} (took ${Math.round(sweep.ms)} ms)`;
    if (sweep.error) setState('sweep', `${text} \u2014 failed: ${sweep.error}`, 'bad');
    else setState('sweep', text, age > LATE_SWEEP_MS ? 'stale' : 'good');
  }
  setState('database', ...DATABASE[daemon.database]);
  if (error !== null) {
    // What the daemon said last is no longer news: shown, but not in its colours.
    hook('sweep').className = 'muted';
    hook('database').className = 'muted';
  }
}
