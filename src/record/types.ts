/**
 * What happened, as plain data. Field names are the column names of the tables in migrations/, so
 * a record is stored as it is. Times are ISO-8601 strings (UTC), durations milliseconds, memory bytes.
 */

/**
 * Run statuses, after Slurm's job states (docs/design.md §6). Two belong to adopted runs alone
 * (`scidex-watchdog adopt`): `exited`, the process ended by itself and its exit status is unknown to
 * us (we are not its parent); `released`, `scidex-watchdog release` ended the supervision.
 */
export const RUN_STATUSES = ['running', 'completed', 'failed', 'timeout', 'out_of_memory', 'cancelled', 'failed_to_start', 'lost', 'exited', 'released'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** One row of watchdog_runs. Written at start and rewritten at the end; `revision` orders the versions. */
export interface RunRecord {
  id: string;
  revision: number;
  analysis_id: string | null;
  /** The run this one is nested in (SCIDEX_RUN_ID inherited by the wrapper), if any. */
  parent_run_id: string | null;
  host: string;
  boot_id: string;
  /** The wrapper's PID namespace (`pid:[inode]`), null when unknown. */
  pid_ns: string | null;
  wrapper_pid: number;
  /** Clock ticks after boot (proc(5) stat field 22). */
  wrapper_starttime: number;
  /**
   * Whether the run is an adopted one (`scidex-watchdog adopt`): its leader was started by someone
   * else, and the wrapper is the adopting supervisor. Absent in records of older versions: false.
   */
  adopted?: boolean;
  /** The leader: the process we spawned (or adopted); the PGID and SID of a spawned run. Null when the spawn failed. */
  pid: number | null;
  pgid: number | null;
  leader_starttime: number | null;
  argv: string[];
  cwd: string;
  username: string;
  timeout_ms: number;
  memory_limit_bytes: number;
  grace_ms: number;
  orphan_policy: string;
  tracking_backend: string;
  /** The run's cgroup v2 directory (absolute path) under the cgroup backend, else null. */
  cgroup_path: string | null;
  /** The Slurm job the wrapper ran in (SLURM_JOB_ID), else null; absent in records of older versions. */
  slurm_job_id?: string | null;
  /** The Slurm step (SLURM_STEP_ID: a number, or `batch`, `extern`), else null; absent likewise. */
  slurm_step_id?: string | null;
  journal_path: string;
  started_at: string;
  heartbeat_at: string;
  ended_at: string | null;
  status: RunStatus;
  /**
   * What scidex-run exited with. For an adopted run: the process's own status (N, or 128+signal)
   * when the kernel told it; else 128+the signal of ours that ended it; null when neither is known.
   */
  exit_status: number | null;
  /** What the command exited with, when it exited by itself (and, adopted, the kernel told). */
  exit_code: number | null;
  /** The signal the command died of (`SIGKILL`), when it died of one. */
  signal: string | null;
  /** Why the run was stopped: timeout, memory, kernel_oom, orphans, slurm_time_limit, cancelled or `cancelled: <reason>` (--reason), internal error or spawn error text; null when it was not. */
  reason: string | null;
  peak_rss_bytes: number;
  peak_pss_bytes: number | null;
  cpu_seconds: number;
  peak_process_count: number;
  process_count: number;
}

export type EventKind =
  | 'run_started'
  | 'failed_to_start'
  | 'limit_exceeded'
  | 'cancel_requested'
  | 'signal_forwarded'
  | 'signal_sent'
  | 'process_killed'
  | 'orphan_found'
  | 'run_finished'
  | 'run_lost'
  | 'kill_refused'
  | 'kill_failed'
  | 'kernel_oom_kill'
  | 'released';

/** One row of watchdog_events: a lifecycle or kill event with its full context. */
export interface EventRecord {
  id: string;
  run_id: string;
  analysis_id: string | null;
  at: string;
  kind: EventKind;
  /** timeout, memory, orphans, cancelled, ... */
  reason: string | null;
  /** The process the event is about, when one. */
  pid: number | null;
  /** The processes a signal pass went to. */
  pids: number[];
  signal: string | null;
  /** Tree RSS at the event, bytes. */
  rss_bytes: number | null;
  /** Tree PSS at the event, bytes, when it was read. */
  pss_bytes: number | null;
  /** RSS of `pid` when last seen, bytes. */
  process_rss_bytes: number | null;
  /** Time since the run started, milliseconds. */
  elapsed_ms: number;
  detail: Record<string, unknown>;
}

/** How a process of the run ended. */
export type ProcessFate = 'exited' | 'terminated' | 'killed' | 'left_running';

/** One row of watchdog_processes: a process seen in the run, written when the run ends. */
export interface ProcessRecord {
  run_id: string;
  pid: number;
  starttime: number;
  ppid: number;
  pgid: number;
  sid: number;
  comm: string;
  argv: string[];
  found_by: string;
  first_seen_at: string;
  last_seen_at: string;
  peak_rss_bytes: number;
  cpu_seconds: number;
  fate: ProcessFate;
}

/**
 * A process of a run as its records need it. It is the shape of the tracker's Member
 * (track/member.ts), which record/ takes without importing: the records sit above the layers that
 * face the kernel, not on them.
 */
export interface ProcessSeen {
  pid: number;
  /** Clock ticks after boot, proc(5) stat field 22. */
  starttime: number;
  ppid: number;
  pgid: number;
  sid: number;
  comm: string;
  argv: string[];
  /** How the tracker recognised it as the run's: leader, group, session, ancestry, cookie, cgroup, subreaper. */
  foundBy: string;
  /** Wall clock, epoch milliseconds. */
  firstSeenMs: number;
  lastSeenMs: number;
  /** RSS at the last scan that found it alive, bytes. */
  rssBytes: number;
  peakRssBytes: number;
  /** utime + stime at the last scan, clock ticks. */
  cpuTicks: number;
  alive: boolean;
}

/** One scan of a run's tree as its records need it (the tracker's TreeSnapshot). */
export interface TreeSeen {
  alive: ProcessSeen[];
  /** Sum of the RSS of the live processes, bytes. */
  rssBytes: number;
}

/** One row of watchdog_samples: the tree at one moment of a running run. */
export interface SampleRecord {
  id: string;
  run_id: string;
  at: string;
  /** Time since the run started, milliseconds. */
  elapsed_ms: number;
  /** Tree RSS, bytes: the sum over the live members (proc(5) stat field 24, rss, times the page size). */
  rss_bytes: number;
  /** Tree PSS, bytes (smaps_rollup), when it was read at this sample: only over the limit. */
  pss_bytes: number | null;
  /** CPU time of every member so far, user + system, seconds. */
  cpu_seconds: number;
  /** Live members. */
  process_count: number;
  /** Written because tree RSS reached a new high, not because the sample interval came round. */
  peak: boolean;
  /**
   * Written from the wrapper's ring of its last ticks at a breach (a stop, a termination sequence,
   * a kernel OOM kill) or during the grace period after it, not by the sample interval; absent
   * (false) on periodic and peak samples, and in journals older than the field.
   */
  tick?: boolean;
  /** On tick samples, the 5 largest live processes by RSS, largest first; absent (null) on the others. */
  top_processes?: TopProcess[] | null;
}

/** One process of a tick sample's top_processes. */
export interface TopProcess {
  pid: number;
  /** proc(5) stat field 2: the name the kernel keeps for it (15 bytes at most; the process may set it). */
  comm: string;
  /** Its RSS at that scan, bytes (proc(5) stat field 24, rss, times the page size). */
  rss_bytes: number;
}

/** One line of a journal file. */
export type JournalEntry =
  | { table: 'runs'; record: RunRecord }
  | { table: 'events'; record: EventRecord }
  | { table: 'processes'; record: ProcessRecord }
  | { table: 'samples'; record: SampleRecord };
