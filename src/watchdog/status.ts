/**
 * The host's status as `GET /status` serves it (and the live page and /metrics read it): the
 * daemon, the runs it monitors, and the latest kills. Its types are status-body.ts.
 *
 * Sources:
 *   - runs: the markers of the state directory (`running/<id>.json`) of this host whose wrapper is
 *     alive (pid and starttime, this boot) and whose journal does not yet say it ended. Their
 *     figures come from their journals, through the JournalCache: the winning run row (the latest
 *     heartbeat) and the newest sample (`{table: 'samples'}`). A run is in its grace period when
 *     its journal holds a signal_sent event and no run_finished yet.
 *   - pressure_guard: the memory-pressure guard's thresholds, its last reading of the host's
 *     memory, and its stops (pressure-guard.ts).
 *   - recent_events and kills_last_24h (runs whose tree got a signal of ours or the kernel's OOM
 *     kill in the last 24 hours): with a database, what the last sweep read from PostgreSQL
 *     for this host, merged with the journals (so an event journaled since that sweep shows at
 *     once; merged by event id and run id, never counted twice); without one, the journals alone.
 */
import { hostname } from 'node:os';
import { wrapperAlive } from '../proc/liveness.js';
import { listMarkers, readMarker, type RunMarker } from '../record/markers.js';
import type { EventRecord } from '../record/types.js';
import type { SweepReport } from './daemon-file.js';
import { newestFirst, type JournalCache, type RunFacts } from './journal-cache.js';
import type { GuardView } from './pressure-guard.js';
import type { HostStatus, PressureGuardStatus, RunStatus, StatusEvent } from './status-body.js';

/** How many events recent_events holds. */
export const RECENT_EVENTS = 20;

/** What the daemon knows of itself for the status. */
export interface DaemonFacts {
  pid: number;
  startedAtMs: number;
  heartbeatAt: string;
  lastSweep: SweepReport | null;
  database: 'ok' | 'down' | 'none';
  version: string;
}

/** What the last sweep read from PostgreSQL (absent without a database or before it first succeeded). */
export interface DatabaseFacts {
  recentEvents: EventRecord[];
  killedRunIds: string[];
}

/** A run the daemon monitors: its marker (fixed identity) and what its journals say. */
export interface MonitoredRun {
  marker: RunMarker;
  facts: RunFacts | undefined;
}

/**
 * The runs of this host in the state directory with a live wrapper that have not ended.
 * Reads the markers (a few small files) at each call; the journals through `cache` (refresh it first).
 */
export function monitoredRuns(stateDir: string, cache: JournalCache): MonitoredRun[] {
  const host = hostname();
  const runs: MonitoredRun[] = [];
  for (const runId of listMarkers(stateDir)) {
    const marker = readMarker(stateDir, runId);
    if (!marker || marker.host !== host || !wrapperAlive(marker)) continue;
    const facts = cache.facts(runId);
    // The wrapper removes the marker just after journaling the end: in between the run is over.
    if (facts?.run?.ended_at || facts?.finishedEvent) continue;
    runs.push({ marker, facts });
  }
  return runs.sort((a, b) => a.marker.started_at.localeCompare(b.marker.started_at) || a.marker.id.localeCompare(b.marker.id));
}

/** Whether a run is in its grace period: a signal was sent and it has not finished. */
export function inGrace(facts: RunFacts | undefined): boolean {
  return facts !== undefined && facts.signalReasons.size > 0 && !facts.finishedEvent && !facts.run?.ended_at;
}

/** One monitored run as /status shows it. */
export function runStatus({ marker, facts }: MonitoredRun, nowMs: number): RunStatus {
  const run = facts?.run;
  const sample = facts?.sample;
  const timeoutMs = run?.timeout_ms ?? marker.timeout_ms;
  const elapsedMs = Math.max(0, nowMs - Date.parse(marker.started_at));
  return {
    id: marker.id,
    analysis_id: marker.analysis_id,
    pid: run?.pid ?? null,
    wrapper_pid: marker.wrapper_pid,
    command: run?.argv ?? marker.argv,
    started_at: marker.started_at,
    elapsed_ms: elapsedMs,
    timeout_ms: timeoutMs,
    time_left_ms: timeoutMs > 0 ? Math.max(0, timeoutMs - elapsedMs) : null,
    memory_limit_bytes: run?.memory_limit_bytes ?? marker.memory_limit_bytes,
    rss_bytes: sample?.rss_bytes ?? null,
    pss_bytes: sample?.pss_bytes ?? null,
    process_count: sample?.process_count ?? run?.process_count ?? 0,
    in_grace: inGrace(facts),
    tracking_backend: run?.tracking_backend ?? marker.tracking_backend,
    adopted: marker.adopted === true,
  };
}

function statusEvent(event: EventRecord): StatusEvent {
  return {
    at: event.at,
    run_id: event.run_id,
    analysis_id: event.analysis_id,
    kind: event.kind,
    reason: event.reason,
    signal: event.signal,
    pid: event.pid,
    rss_bytes: event.rss_bytes,
    pss_bytes: event.pss_bytes,
  };
}

/** The journals' runs of this host with a kill (signal_sent or kernel_oom_kill event) in the 24 hours before `nowMs`. */
function journalKills(cache: JournalCache, nowMs: number): string[] {
  const host = hostname();
  const since = nowMs - 24 * 3600_000;
  return [...cache.allRuns()]
    .filter(([, facts]) => (facts.lastKillAtMs ?? -Infinity) >= since && (facts.run === undefined || facts.run.host === host))
    .map(([runId]) => runId);
}

/**
 * Builds the status. Refreshes `cache` (only what was appended since the last call is read).
 * @param database the last sweep's reading of PostgreSQL, when there is one
 */
export function buildStatus(
  stateDir: string,
  cache: JournalCache,
  daemon: DaemonFacts,
  database: DatabaseFacts | undefined,
  guard: PressureGuardStatus,
  nowMs = Date.now(),
): HostStatus {
  cache.refresh();
  const runs = monitoredRuns(stateDir, cache).map((run) => runStatus(run, nowMs));
  const host = hostname();
  const journalEvents = cache.recentEvents(RECENT_EVENTS).filter((event) => {
    const run = cache.facts(event.run_id)?.run;
    return run === undefined || run.host === host;
  });
  const byId = new Map<string, EventRecord>();
  for (const event of [...(database?.recentEvents ?? []), ...journalEvents]) if (!byId.has(event.id)) byId.set(event.id, event);
  const killed = new Set([...(database?.killedRunIds ?? []), ...journalKills(cache, nowMs)]);
  const sweep = daemon.lastSweep;
  return {
    host,
    version: daemon.version,
    daemon: {
      pid: daemon.pid,
      started_at: new Date(daemon.startedAtMs).toISOString(),
      uptime_seconds: Math.max(0, Math.round((nowMs - daemon.startedAtMs) / 100) / 10),
      heartbeat_at: daemon.heartbeatAt,
      last_sweep: sweep ? { at: sweep.at, ms: sweep.ms, ...(sweep.error ? { error: sweep.error } : {}) } : null,
      database: daemon.database,
    },
    monitored_count: runs.length,
    grace_count: runs.filter((run) => run.in_grace).length,
    kills_last_24h: killed.size,
    runs,
    recent_events: newestFirst([...byId.values()]).slice(0, RECENT_EVENTS).map(statusEvent),
    pressure_guard: guard,
  };
}

/** The pressure guard as /status shows it. */
export function guardStatus(view: GuardView): PressureGuardStatus {
  const { settings, reading } = view;
  return {
    enabled: view.enabled,
    min_available_bytes: settings.minAvailableBytes,
    max_memory_pressure: settings.maxMemoryPressure,
    pressure_duration_ms: settings.pressureDurationMs,
    read_at: reading ? new Date(reading.atMs).toISOString() : null,
    mem_available_bytes: reading?.memAvailableBytes ?? null,
    mem_total_bytes: reading?.memTotalBytes ?? null,
    psi_full_avg10: reading?.psiFullAvg10 ?? null,
    near: view.near,
    stops: view.stops,
    last_stop: view.lastStop ?? null,
  };
}
