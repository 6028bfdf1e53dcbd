/**
 * The Prometheus metrics of `scidex-watchdog serve` (GET /metrics), on a registry of our own
 * (prom-client). Labels are bounded: a run's status or a kill's reason, never a run id or an
 * analysis id (one series per run would grow without end).
 *
 * Finished runs are observed from the journals of the daemon's state directory, each run once:
 * a run counts when its journal first shows it ended (its winning run row has `ended_at`) and it
 * ended after the daemon started. The ids seen are remembered in memory, so a journal re-read or
 * re-shipped is never counted twice; a restarted daemon does not count again what ended before it
 * started (its counters start at 0, which Prometheus' rate() and increase() expect), and runs that
 * ended while no daemon ran are not counted. A kill is a run whose tree got a signal of ours (a
 * signal_sent event): by reason timeout, memory (host_pressure when the daemon's pressure guard
 * stopped it), cancelled or lost from the run's final status, else orphans when only its leftover
 * processes were killed; and a run the kernel's OOM killer ended inside its memory cgroup (reason
 * kernel_oom), signalled by us or not.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { unshippedJournals } from '../record/journal-files.js';
import { RUN_STATUSES, type RunRecord } from '../record/types.js';
import type { JournalCache, RunFacts } from './journal-cache.js';
import type { MonitoredRun } from './status.js';
import type { GuardView } from './pressure-guard.js';
import type { GuardStop } from './pressure-stop.js';

/** Kill reasons, the values of scidex_kills_total's `reason` label. */
export const KILL_REASONS = ['timeout', 'memory', 'host_pressure', 'kernel_oom', 'orphans', 'cancelled', 'lost'] as const;
export type KillReason = (typeof KILL_REASONS)[number];

/**
 * prom-client's default metrics that break the Prometheus naming rules, left out of /metrics:
 * gauges named `_total`, which `promtool check metrics` reports ("non-counter metrics should not
 * have "_total" suffix"; https://prometheus.io/docs/practices/naming/). Each is the sum of the
 * gauge of the same name without `_total`, by `type`, which stays: `sum without (type)
 * (nodejs_active_handles)` gives it (prom-client's own issue, prometheus/client_js#283).
 */
export const DROPPED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

const MIB = 1024 * 1024;
/** Seconds: from a second to a day. */
const DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14_400, 43_200, 86_400];
/** Bytes: 16 MiB to 64 GiB, times four. */
const BYTES_BUCKETS = [16, 64, 256, 1024, 4096, 16_384, 65_536].map((mib) => mib * MIB);
/** Seconds of one sweep: a reap may wait out a lost run's grace period. */
const SWEEP_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60];

/**
 * A journal is a file anyone with the state directory's permissions could have edited, and
 * prom-client throws on anything but a number: a count or size is used only when it is one.
 * @returns the value when it is a finite number >= 0, else undefined
 */
function measured(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** What the gauges read at scrape time. */
export interface LiveView {
  /** The monitored runs, freshly read (the journal cache refreshed). */
  running(): MonitoredRun[];
  stateDir: string;
  /** The memory-pressure guard: its last reading of the host. */
  guard(): GuardView;
}

/** The kill reason of a finished run, or undefined when its tree got no signal of ours. */
export function killReason(run: RunRecord, facts: RunFacts): KillReason | undefined {
  // The kernel killed: the tree may have been gone before any signal of ours.
  if (run.status === 'out_of_memory' && run.reason === 'kernel_oom') return 'kernel_oom';
  if (facts.signalReasons.size === 0) return undefined;
  switch (run.status) {
    case 'timeout':
      return 'timeout';
    case 'out_of_memory':
      // The run's own memory limit, or the daemon's pressure guard (which chose it to free the host).
      return run.reason === 'host_pressure' ? 'host_pressure' : 'memory';
    case 'cancelled':
      return 'cancelled';
    case 'lost':
      return 'lost';
    default:
      return facts.signalReasons.has('orphans') ? 'orphans' : undefined;
  }
}

/** The daemon's metrics. */
export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly seen = new Set<string>();
  private readonly finished: Counter<'status'>;
  private readonly kills: Counter<'reason'>;
  private readonly duration: Histogram;
  private readonly peakRss: Histogram;
  private readonly peakPss: Histogram;
  private readonly lastSweep: Gauge;
  private readonly sweepDuration: Histogram;
  private readonly sweeps: Counter<'result'>;
  private readonly guardStops: Counter<'by'>;

  /**
   * @param startedAtMs the daemon's start: runs that ended before it are not counted
   */
  constructor(
    private readonly view: LiveView,
    private readonly startedAtMs: number,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    for (const name of DROPPED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    this.finished = new Counter({
      name: 'scidex_runs_finished_total',
      help: 'Runs of the state directory seen to end since the daemon started, by final status (each run once)',
      labelNames: ['status'],
      registers,
    });
    for (const status of RUN_STATUSES) if (status !== 'running') this.finished.inc({ status }, 0);
    this.kills = new Counter({
      name: 'scidex_kills_total',
      help: "Finished runs whose tree got a signal of ours or the kernel's OOM kill, since the daemon started, by reason (timeout, memory, host_pressure, kernel_oom, orphans, cancelled, lost)",
      labelNames: ['reason'],
      registers,
    });
    for (const reason of KILL_REASONS) this.kills.inc({ reason }, 0);
    this.duration = new Histogram({
      name: 'scidex_run_duration_seconds',
      help: 'Wall-clock duration of the runs seen to end since the daemon started',
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.peakRss = new Histogram({
      name: 'scidex_run_peak_rss_bytes',
      help: 'Peak tree RSS of the runs seen to end since the daemon started',
      buckets: BYTES_BUCKETS,
      registers,
    });
    this.peakPss = new Histogram({
      name: 'scidex_run_peak_pss_bytes',
      help: 'Peak tree PSS of the runs seen to end since the daemon started (only runs whose PSS was read: over their memory limit)',
      buckets: BYTES_BUCKETS,
      registers,
    });
    const live = this.view;
    new Gauge({
      name: 'scidex_runs_running',
      help: 'Runs of this host in the state directory with a live wrapper (as /status monitored_count)',
      registers,
      collect() {
        this.set(live.running().length);
      },
    });
    new Gauge({
      name: 'scidex_running_tree_rss_bytes',
      help: 'Sum of the tree RSS of the running runs, at their newest sample',
      registers,
      collect() {
        this.set(live.running().reduce((sum, run) => sum + (measured(run.facts?.sample?.rss_bytes) ?? 0), 0));
      },
    });
    new Gauge({
      name: 'scidex_running_tree_cpu_seconds',
      help: 'Sum of the CPU time (user + system) used so far by the trees of the running runs, at their newest sample',
      registers,
      collect() {
        this.set(live.running().reduce((sum, run) => sum + (measured(run.facts?.sample?.cpu_seconds) ?? 0), 0));
      },
    });
    new Gauge({
      name: 'scidex_journal_backlog_journals',
      help: 'Journals of the state directory not yet marked shipped (running runs included; without a database, every journal)',
      registers,
      collect() {
        this.set(unshippedJournals(live.stateDir).length);
      },
    });
    this.lastSweep = new Gauge({
      name: 'scidex_last_sweep_timestamp_seconds',
      help: 'When the last sweep (reap, then ship) ended, seconds since the epoch; 0 before the first',
      registers,
    });
    this.sweepDuration = new Histogram({
      name: 'scidex_sweep_duration_seconds',
      help: 'How long each sweep (reap, then ship) took',
      buckets: SWEEP_BUCKETS,
      registers,
    });
    this.sweeps = new Counter({
      name: 'scidex_sweeps_total',
      help: 'Sweeps since the daemon started, by result (ok, or error: the database was down, ...)',
      labelNames: ['result'],
      registers,
    });
    this.sweeps.inc({ result: 'ok' }, 0);
    this.sweeps.inc({ result: 'error' }, 0);
    new Gauge({
      name: 'scidex_host_memory_available_bytes',
      help: "MemAvailable of /proc/meminfo at the pressure guard's last reading (read at the scrape under --pressure-guard off)",
      registers,
      collect() {
        const reading = live.guard().reading;
        if (reading) this.set(reading.memAvailableBytes);
      },
    });
    new Gauge({
      name: 'scidex_host_memory_pressure_full_avg10',
      help: "PSI full avg10 of /proc/pressure/memory, percent, at the pressure guard's last reading (absent where the kernel has no PSI)",
      registers,
      collect() {
        const psi = live.guard().reading?.psiFullAvg10;
        if (psi !== undefined && psi !== null) this.set(psi);
      },
    });
    new Gauge({
      name: 'scidex_pressure_guard_min_available_bytes',
      help: 'The pressure guard\'s --min-available, bytes (0 under --pressure-guard off)',
      registers,
      collect() {
        const view = live.guard();
        this.set(view.enabled ? view.settings.minAvailableBytes : 0);
      },
    });
    this.guardStops = new Counter({
      name: 'scidex_pressure_guard_stops_total',
      help: 'Runs the memory-pressure guard stopped since the daemon started, by who ended them: wrapper (it acted), daemon (it did not, or died before the run ended, and the daemon ended the run), reaper (its wrapper died and the lifeline reaper had the run first), ended (it was ending by itself)',
      labelNames: ['by'],
      registers,
    });
    for (const by of ['wrapper', 'daemon', 'reaper', 'ended']) this.guardStops.inc({ by }, 0);
  }

  /** Counts one stop of the pressure guard. */
  pressureStop(stop: GuardStop): void {
    this.guardStops.inc({ by: stop.by });
  }

  /** Records one sweep. @param endedAtMs when it ended @param ms how long it took */
  sweep(endedAtMs: number, ms: number, failed: boolean): void {
    this.lastSweep.set(endedAtMs / 1000);
    this.sweepDuration.observe(ms / 1000);
    this.sweeps.inc({ result: failed ? 'error' : 'ok' });
  }

  /**
   * Counts the runs the journals show ended since the daemon started and not counted yet.
   * Call after `cache.refresh()`.
   * @returns how many were counted now
   */
  observeFinished(cache: JournalCache): number {
    let counted = 0;
    for (const [runId, facts] of cache.allRuns()) {
      const run = facts.run;
      if (this.seen.has(runId) || !run?.ended_at || run.status === 'running') continue;
      // The status is a label: a value outside the known set would be a new series per value.
      if (!(RUN_STATUSES as readonly string[]).includes(run.status)) continue;
      this.seen.add(runId);
      const endedMs = Date.parse(run.ended_at);
      if (!(endedMs >= this.startedAtMs)) continue;
      counted++;
      this.finished.inc({ status: run.status });
      const reason = killReason(run, facts);
      if (reason) this.kills.inc({ reason });
      const seconds = (endedMs - Date.parse(run.started_at)) / 1000;
      if (Number.isFinite(seconds) && seconds >= 0) this.duration.observe(seconds);
      const peakRss = measured(run.peak_rss_bytes);
      if (peakRss) this.peakRss.observe(peakRss);
      const peakPss = measured(run.peak_pss_bytes);
      if (peakPss !== undefined) this.peakPss.observe(peakPss);
    }
    return counted;
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
