/**
 * Records for the routed page tests (a page fed JSON of the test's own through playwright routes):
 * a run, its events, samples and processes, with fields overridable. Bytes, ms, ISO times.
 */
import type { EventKind, EventRecord, ProcessRecord, RunRecord, SampleRecord } from '../../src/record/types.js';

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

/** ISO time `ms` after `base`. */
export const isoAfter = (base: number, ms: number) => new Date(base + ms).toISOString();

/** A run of host node1, started at `startMs`, limits 30 min and 2 GiB. */
export function fixtureRun(id: string, startMs: number, more: Partial<RunRecord> = {}): RunRecord {
  return {
    id, revision: 2, analysis_id: 'A42', parent_run_id: null, host: 'node1', boot_id: 'b', pid_ns: null,
    wrapper_pid: 999, wrapper_starttime: 1, pid: 1000, pgid: 1000, leader_starttime: 2,
    argv: ['python3', 'fit.py', '--n', '3'], cwd: '/home/ana', username: 'ana',
    timeout_ms: 30 * 60_000, memory_limit_bytes: 2 * GiB, grace_ms: 10_000, orphan_policy: 'kill',
    tracking_backend: 'cgroup', cgroup_path: null, journal_path: '/j', started_at: isoAfter(startMs, 0),
    heartbeat_at: isoAfter(startMs, 6000), ended_at: isoAfter(startMs, 6000), status: 'completed',
    exit_status: 0, exit_code: 0, signal: null, reason: null, peak_rss_bytes: GiB, peak_pss_bytes: null,
    cpu_seconds: 4.2, peak_process_count: 3, process_count: 0, ...more,
  };
}

/** An event of `run` at `elapsedMs`. */
export function fixtureEvent(run: RunRecord, kind: EventKind, elapsedMs: number, more: Partial<EventRecord> = {}): EventRecord {
  return {
    id: `${kind}-${elapsedMs}`, run_id: run.id, analysis_id: run.analysis_id, at: isoAfter(Date.parse(run.started_at), elapsedMs), kind,
    reason: null, pid: null, pids: [], signal: null, rss_bytes: null, pss_bytes: null, process_rss_bytes: null, elapsed_ms: elapsedMs, detail: {}, ...more,
  };
}

/** A sample of `run` at `elapsedMs`. */
export function fixtureSample(run: RunRecord, elapsedMs: number, rss: number, more: Partial<SampleRecord> = {}): SampleRecord {
  return {
    id: `s-${elapsedMs}`, run_id: run.id, at: isoAfter(Date.parse(run.started_at), elapsedMs), elapsed_ms: elapsedMs,
    rss_bytes: rss, pss_bytes: null, cpu_seconds: elapsedMs / 1000, process_count: 3, peak: false, ...more,
  };
}

/** A process of `run`. */
export function fixtureProcess(run: RunRecord, pid: number, comm: string, peak: number, fate: ProcessRecord['fate']): ProcessRecord {
  return {
    run_id: run.id, pid, starttime: pid * 10, ppid: 1000, pgid: 1000, sid: 1000, comm, argv: [comm, `--worker=${pid}`], found_by: 'cgroup',
    first_seen_at: run.started_at, last_seen_at: run.ended_at ?? run.heartbeat_at, peak_rss_bytes: peak, cpu_seconds: 1.5, fate,
  };
}
