/**
 * Raw records to what people read: the rows of the `runs`, `events` and `show` tables and the
 * header of `show`. Whatever the source, sizes are formatted here by formatSize (binary units),
 * times as UTC (`2026-11-21 08:00:00`, events to the millisecond), durations by formatDuration.
 * Recorded text goes to a terminal, so every string shown passes through visible() (config/text.ts)
 * `visible` (control characters as escapes); `--json` prints the records, not these views.
 */
import { formatDuration } from '../config/duration.js';
import { formatSize } from '../config/size.js';
import type { EventRecord, ProcessRecord, RunRecord, SampleRecord } from '../record/types.js';
import type { LiveFigures, LiveProcess } from './run-view-body.js';
import type { Timeline } from './source.js';
import { visible } from '../config/text.js';
import { reasonWords } from './words/reason.js';

/** One table row: column name to cell; null prints empty. */
export type Row = Record<string, string | number | null>;

/** `row` with its text cells made safe for a terminal. */
const shown = (row: Row): Row => Object.fromEntries(Object.entries(row).map(([column, cell]) => [column, typeof cell === 'string' ? visible(cell) : cell]));

const size = (bytes: number | null) => (bytes === null ? null : formatSize(bytes));
const time = (iso: string, milliseconds = false) => new Date(iso).toISOString().slice(0, milliseconds ? 23 : 19).replace('T', ' ');
/** Wall-clock time of the run so far, milliseconds: to its end, or to its last heartbeat while it runs. */
const durationMs = (run: RunRecord) => Date.parse(run.ended_at ?? run.heartbeat_at) - Date.parse(run.started_at);

/** A row of `scidex-watchdog runs`. */
export function runRow(run: RunRecord): Row {
  return shown({
    id: run.id,
    analysis_id: run.analysis_id,
    host: run.host,
    pid: run.pid,
    // An adopted run (scidex-watchdog adopt) says so where its status is read.
    status: run.adopted ? `${run.status} (adopted)` : run.status,
    exit_status: run.exit_status,
    reason: run.reason,
    started: time(run.started_at),
    seconds: (durationMs(run) / 1000).toFixed(1),
    peak_rss: size(run.peak_rss_bytes),
    peak_pss: size(run.peak_pss_bytes),
    cpu_s: run.cpu_seconds.toFixed(1),
    peak_procs: run.peak_process_count,
    command: run.argv.join(' '),
  });
}

/** A row of `scidex-watchdog events`. */
export function eventRow(event: EventRecord): Row {
  return shown({
    at: time(event.at, true),
    run_id: event.run_id,
    analysis_id: event.analysis_id,
    kind: event.kind,
    reason: event.reason,
    pid: event.pid,
    npids: event.pids.length || null,
    signal: event.signal,
    tree_rss: size(event.rss_bytes),
    tree_pss: size(event.pss_bytes),
    proc_rss: size(event.process_rss_bytes),
    elapsed_s: (event.elapsed_ms / 1000).toFixed(3),
  });
}

/** An event row of `show`, without the run id and analysis its header already gives. */
export function timelineEventRow(event: EventRecord): Row {
  const { run_id, analysis_id, ...row } = eventRow(event);
  return row;
}

/** A process row of `show`. */
export function processRow(process: ProcessRecord): Row {
  return shown({
    pid: process.pid,
    ppid: process.ppid,
    comm: process.comm,
    found_by: process.found_by,
    peak_rss: size(process.peak_rss_bytes),
    cpu_s: process.cpu_seconds.toFixed(2),
    fate: process.fate,
  });
}

/** A sample row of `show`. */
export function sampleRow(sample: SampleRecord): Row {
  return shown({
    at: time(sample.at),
    elapsed_s: (sample.elapsed_ms / 1000).toFixed(1),
    rss: size(sample.rss_bytes),
    pss: size(sample.pss_bytes),
    cpu_s: sample.cpu_seconds.toFixed(1),
    procs: sample.process_count,
    peak: sample.peak ? 'peak' : null,
    // Journaled from the wrapper's last ticks at a breach (docs/records.md), not by the interval.
    tick: sample.tick ? 'tick' : null,
  });
}

function exitStatus(run: RunRecord): string {
  if (run.exit_status === null && run.adopted && run.ended_at !== null && run.status !== 'released' && run.status !== 'lost') return 'unknown (an adopter is not the process\'s parent, and the kernel did not tell)';
  if (run.exit_status === null) return '';
  if (run.adopted && run.exit_code === null && run.signal === null) return `${run.exit_status} (128 + the last signal of ours it received; its own status is unknown to an adopter)`;
  if (run.exit_code !== null) return `${run.exit_status} (the command exited with ${run.exit_code})`;
  if (run.signal !== null) return `${run.exit_status} (the command died of ${run.signal})`;
  return String(run.exit_status);
}

/** A number of a journaled detail, when it is one (a journal is a file anyone with the state directory's permissions could edit). */
const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined);

/**
 * The run's reason, told in full where it is the kernel's: `kernel_oom` with how many processes the
 * OOM killer took, the victim when known, and the backstop (its kernel_oom_kill event).
 */
function reasonText(run: RunRecord, events: readonly EventRecord[]): string {
  if (run.reason !== 'kernel_oom') return run.reason ?? '';
  const event = events.find((candidate) => candidate.kind === 'kernel_oom_kill');
  if (!event) return run.reason;
  const detail = event.detail as Record<string, unknown>;
  const killed = count(detail.oom_kill);
  const processes = killed === undefined ? 'killed' : `killed ${killed} process${killed === 1 ? '' : 'es'}`;
  const victim = event.pid === null ? '' : ` (pid ${event.pid})`;
  const bytes = count(detail.memory_backstop_bytes);
  const where = bytes === undefined ? "in the run's memory cgroup" : `at the ${formatSize(bytes)} backstop (cgroup ${String(detail.hierarchy)})`;
  return `kernel_oom: the kernel's OOM killer ${processes}${victim} ${where}`;
}

/** The run's kernel memory backstop, from its run_started event; undefined when no such event was recorded. */
function backstopText(events: readonly EventRecord[]): string | undefined {
  const started = events.find((event) => event.kind === 'run_started');
  const tracking = (started?.detail as { tracking?: { memory_backstop_bytes?: unknown; memory_backstop?: { hierarchy?: unknown; cgroup?: unknown } | null } } | undefined)?.tracking;
  if (!tracking) return undefined;
  const bytes = count(tracking.memory_backstop_bytes);
  if (bytes === undefined) return 'none';
  const where = tracking.memory_backstop ? ` (cgroup ${String(tracking.memory_backstop.hierarchy)}: ${String(tracking.memory_backstop.cgroup)})` : '';
  return `${formatSize(bytes)}${where}`;
}

/**
 * The header of `show`: label and value pairs, in display order, values made safe for a terminal.
 * @param live a running run's tree measured now (query/live-figures.ts): its elapsed time, tree and
 *        time left replace the last heartbeat's; null for a running run not measured from here,
 *        whose figures are then said to be its last heartbeat's. Nothing changes for a finished run.
 */
export function timelineFields(timeline: Timeline, live: LiveFigures | null = null): [string, string][] {
  const { run, otherRuns, events } = timeline;
  const disabledIfZero = (value: number, format: (value: number) => string) => (value === 0 ? 'none' : format(value));
  const others = run.analysis_id === null ? '' : ` (${otherRuns} other run${otherRuns === 1 ? '' : 's'})`;
  const backstop = backstopText(events);
  const fields: [string, string][] = [
    ['id', run.id],
    ['analysis', run.analysis_id === null ? '(none)' : `${run.analysis_id}${others}`],
    ['host', run.host],
    ['command', run.argv.join(' ')],
    ...(run.adopted ? [['adopted', `yes: pid ${run.pid} was started elsewhere and supervised from ${time(run.started_at)} UTC by pid ${run.wrapper_pid}`] as [string, string]] : []),
    ['status', run.status],
    ['exit status', exitStatus(run)],
    ['reason', reasonText(run, events)],
    // The run page's words, for an ended run (a running one's would only say "running").
    ...(run.ended_at === null ? [] : [['why', reasonWords(run, events)] as [string, string]]),
    ['started', `${time(run.started_at)} UTC`],
    ['ended', run.ended_at === null ? `not yet (last heartbeat ${time(run.heartbeat_at)} UTC)` : `${time(run.ended_at)} UTC`],
    ['duration', formatDuration(durationMs(run))],
    [
      'limits',
      `timeout ${disabledIfZero(run.timeout_ms, formatDuration)}, memory ${disabledIfZero(run.memory_limit_bytes, formatSize)}, ` +
        `grace ${formatDuration(run.grace_ms)}, orphans ${run.orphan_policy}`,
    ],
    ['tracking', run.cgroup_path === null ? run.tracking_backend : `${run.tracking_backend} (${run.cgroup_path})`],
    ...(backstop === undefined ? [] : [['memory backstop', backstop] as [string, string]]),
    ['peak tree', `RSS ${formatSize(run.peak_rss_bytes)}, PSS ${run.peak_pss_bytes === null ? 'not read' : formatSize(run.peak_pss_bytes)}`],
    ['cpu', `${run.cpu_seconds.toFixed(2)}s`],
    ['processes', `${run.process_count} seen, at most ${run.peak_process_count} at once`],
  ];
  if (run.ended_at === null) replaceRunningFields(fields, run, live);
  const pressure = hostPressure(timeline);
  if (pressure) fields.splice(fields.findIndex(([label]) => label === 'reason') + 1, 0, ['host pressure', pressure]);
  if (run.slurm_job_id) fields.push(['slurm', `job ${run.slurm_job_id}${run.slurm_step_id ? `, step ${run.slurm_step_id}` : ''}`]);
  return fields.map(([label, value]) => [label, visible(value)]);
}

/** In the header of a run not ended: its end, duration and tree as measured now (`live`), or as of its last heartbeat. */
function replaceRunningFields(fields: [string, string][], run: RunRecord, live: LiveFigures | null): void {
  const at = (label: string) => fields.findIndex(([name]) => name === label);
  if (live === null) {
    fields[at('duration')][1] = `${formatDuration(durationMs(run))} as of its last heartbeat (${time(run.heartbeat_at)} UTC): not measured from here`;
    return;
  }
  const measured = `(live, measured at ${time(live.at)} UTC)`;
  fields[at('ended')][1] = 'not yet';
  fields[at('duration')] = ['elapsed', `${formatDuration(live.elapsed_ms)} so far ${measured}`];
  fields.splice(at('elapsed') + 1, 0,
    ['time left', live.time_left_ms === null ? 'no timeout' : formatDuration(live.time_left_ms)],
    ['tree now', `RSS ${formatSize(live.rss_bytes)} in ${live.process_count} process${live.process_count === 1 ? '' : 'es'} ${measured}`]);
}

/** A row of `show`'s table of a running run's processes measured now. */
export function liveProcessRow(process: LiveProcess): Row {
  return shown({ pid: process.pid, ppid: process.ppid, comm: process.comm, found_by: process.found_by, rss: formatSize(process.rss_bytes), command: process.argv.join(' ') });
}

/**
 * Why the daemon's pressure guard stopped the run, from its host_pressure limit_exceeded event:
 * `MemAvailable 1.1 GiB below the 1.2 GiB floor (PSI full avg10 3.10%); tree PSS 1.5 GiB, the
 * largest run on the host; stopped by its wrapper`. Undefined for a run it did not stop.
 */
function hostPressure({ events }: Timeline): string | undefined {
  const event = events.find((candidate) => candidate.kind === 'limit_exceeded' && candidate.reason === 'host_pressure');
  if (!event || typeof event.detail !== 'object' || event.detail === null) return undefined;
  const detail = event.detail as Record<string, unknown>;
  const bytes = (key: string) => (typeof detail[key] === 'number' ? formatSize(detail[key] as number) : '?');
  const psi = typeof detail.psi_full_avg10 === 'number' ? `PSI full avg10 ${detail.psi_full_avg10.toFixed(2)}%` : 'no PSI';
  const crossing =
    detail.threshold === 'memory_pressure'
      ? `${psi} above ${String(detail.max_memory_pressure)}% for ${typeof detail.pressure_duration_ms === 'number' ? formatDuration(detail.pressure_duration_ms) : '?'} (MemAvailable ${bytes('mem_available_bytes')})`
      : `MemAvailable ${bytes('mem_available_bytes')} below the ${bytes('min_available_bytes')} floor (${psi})`;
  const by = detail.taken_over === true ? "its wrapper did not act: the host's scidex-watchdog ended it" : detail.hurried === true ? 'its stop under way was hurried' : 'stopped by its wrapper';
  return `${crossing}; tree PSS ${bytes('run_pss_bytes')}, the largest run on the host; ${by}`;
}
