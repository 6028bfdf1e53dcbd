/**
 * Turns what the supervisor sees into records (record/types.ts) and hands them to the recorder.
 * It holds the parts of every record that do not change during a run, so that each event carries
 * its full context (run id, analysis id, elapsed time) without the supervisor repeating them.
 */
import { randomUUID } from 'node:crypto';
import { redactArgv } from './redact.js';
import type { RunConfig } from '../config/run-config.js';
import type { Recorder } from './recorder.js';
import type { EventKind, EventRecord, ProcessFate, ProcessRecord, ProcessSeen, RunRecord, SampleRecord } from './types.js';
import { CLOCK_TICKS_PER_SECOND } from '../proc/system.js';

/** The fixed facts of a run: the RunRecord fields that are known before the spawn. */
export type RunIdentity = Omit<
  RunRecord,
  | 'revision' | 'pid' | 'pgid' | 'leader_starttime' | 'heartbeat_at' | 'ended_at' | 'status' | 'exit_status' | 'exit_code'
  | 'signal' | 'reason' | 'peak_rss_bytes' | 'peak_pss_bytes' | 'cpu_seconds' | 'peak_process_count' | 'process_count'
>;

/** The changing part of a run row. */
export type RunProgress = Omit<RunRecord, keyof RunIdentity | 'revision' | 'heartbeat_at'>;

const iso = (ms: number): string => new Date(ms).toISOString();

/** The outcome fields of a run row that has not ended. */
export const NOT_ENDED = {
  ended_at: null,
  status: 'running',
  exit_status: null,
  exit_code: null,
  signal: null,
  reason: null,
} as const satisfies Partial<RunRecord>;

export class RunLog {
  readonly startedAtMs: number;
  /** The last version of the run row journaled, for what reports the run's end (the Pushgateway, CI annotations). */
  lastRun: RunRecord | undefined;
  /** The reasons under which a signal of ours reached a member (signal_sent events): timeout, memory, orphans, cancelled. */
  readonly signalledFor = new Set<string>();

  /** @param revision the revision of the run row already journaled (the reaper continues a run's journal) */
  constructor(
    readonly identity: RunIdentity,
    private readonly recorder: Recorder,
    private revision = 0,
  ) {
    this.startedAtMs = Date.parse(identity.started_at);
  }

  /** Milliseconds since the run started. */
  elapsedMs(): number {
    return Date.now() - this.startedAtMs;
  }

  /** Journals what `work` records as one moment of the run (its start, its end): one fsync, one shipment (Recorder.together). */
  together(work: () => void): void {
    this.recorder.together(work);
  }

  /** Journals a new version of the run row. */
  run(progress: RunProgress): void {
    this.revision += 1;
    this.lastRun = { ...this.identity, ...progress, revision: this.revision, heartbeat_at: iso(Date.now()) };
    this.recorder.run(this.lastRun);
  }

  /** Journals an event; the fields not given are null/empty. */
  event(kind: EventKind, fields: Partial<Omit<EventRecord, 'id' | 'run_id' | 'analysis_id' | 'kind'>>, lifecycle = false): void {
    if (kind === 'signal_sent' && fields.reason) this.signalledFor.add(fields.reason);
    this.recorder.event(
      {
        id: randomUUID(),
        run_id: this.identity.id,
        analysis_id: this.identity.analysis_id,
        at: iso(Date.now()),
        kind,
        reason: null,
        pid: null,
        pids: [],
        signal: null,
        rss_bytes: null,
        pss_bytes: null,
        process_rss_bytes: null,
        elapsed_ms: this.elapsedMs(),
        detail: {},
        ...fields,
      },
      lifecycle,
    );
  }

  /** Journals a sample of the tree taken at `atMs` (milliseconds since the epoch). */
  sample(atMs: number, figures: Omit<SampleRecord, 'id' | 'run_id' | 'at' | 'elapsed_ms'>): void {
    this.recorder.sample({ id: randomUUID(), run_id: this.identity.id, at: iso(atMs), elapsed_ms: atMs - this.startedAtMs, ...figures });
  }

  /** Journals one row per member ever seen, with how it ended. */
  processes<P extends ProcessSeen>(members: readonly P[], fateOf: (member: P) => ProcessFate): void {
    this.recorder.processes(
      members.map(
        (member): ProcessRecord => ({
          run_id: this.identity.id,
          pid: member.pid,
          starttime: member.starttime,
          ppid: member.ppid,
          pgid: member.pgid,
          sid: member.sid,
          comm: member.comm,
          argv: redactArgv(member.argv),
          found_by: member.foundBy,
          first_seen_at: iso(member.firstSeenMs),
          last_seen_at: iso(member.lastSeenMs),
          peak_rss_bytes: member.peakRssBytes,
          cpu_seconds: member.cpuTicks / CLOCK_TICKS_PER_SECOND,
          fate: fateOf(member),
        }),
      ),
    );
  }
}

/** Builds the fixed facts of a run from its config and the host. */
export function runIdentity(
  config: RunConfig,
  facts: Pick<RunIdentity, 'id' | 'adopted' | 'parent_run_id' | 'host' | 'boot_id' | 'pid_ns' | 'wrapper_pid' | 'wrapper_starttime' | 'argv' | 'cwd' | 'username' | 'journal_path' | 'tracking_backend' | 'cgroup_path' | 'slurm_job_id' | 'slurm_step_id'>,
): RunIdentity {
  return {
    ...facts,
    analysis_id: config.analysisId ?? null,
    timeout_ms: config.timeoutMs,
    memory_limit_bytes: config.memoryLimitBytes,
    grace_ms: config.graceMs,
    orphan_policy: config.orphans,
    started_at: iso(Date.now()),
  };
}
