/**
 * One round of the pressure guard (pressure-guard.ts): choose the run to stop, ask its wrapper to
 * stop it, and end it ourselves when the wrapper does not act.
 *
 * The victim: among the runs of this host with a marker in the state directory and a live wrapper
 * that has not ended them, the one whose tree holds the most memory by PSS, read now from /proc
 * (smaps_rollup of every member; the members found as the reaper finds them: the run's cgroup, or
 * processes of the marker's owner, real and effective uid, root included, started after the wrapper
 * that carry the run's cookie). Not the journal's figure: its
 * samples come every --sample-interval (10 s) and hold PSS only for a run over its own memory limit,
 * and under a shortage memory moves within a second. Reading another user's smaps_rollup needs
 * CAP_SYS_PTRACE (root): a daemon that runs as a user measures, and may stop, only that user's runs,
 * which are the only ones it may signal anyway. Why PSS and why the largest: docs/design.md §10.
 *
 * The stop: a request file with the host's figures and SIGTERM to the wrapper, through the same path
 * and identity checks as `scidex-watchdog cancel` (cancel.ts). The wrapper stops the run as out of
 * memory, reason `host_pressure`, with a grace period of min(its --grace, 2 s). The wrapper has acted
 * once its journal shows that stop (or any stop, or the run's end); when it has not within that grace
 * period (at least 1 s: the request and an fsync must fit), it is stuck (stopped, wedged), and the
 * daemon ends the run itself (reap.ts takeOverRun): under the marker's lock, the wrapper SIGKILLed
 * after the identity checks, the tree killed as a reaper kills it, and the run recorded out of
 * memory, host_pressure, 137. A run asked once is not chosen again while its wrapper lives.
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DatabaseConfig } from '../config/database.js';
import { formatDuration } from '../config/duration.js';
import { EXIT_OUT_OF_MEMORY } from '../config/exit-codes.js';
import { formatSize } from '../config/size.js';
import { selfInsideCgroup } from '../proc/cgroup.js';
import { wrapperAlive } from '../proc/liveness.js';
import { pssOrFreshRssBytes } from '../proc/memory.js';
import { pidNamespace } from '../proc/system.js';
import { describeHostPressure, HOST_PRESSURE_MAX_GRACE_MS, requesterName, type CancelRequest, type HostPressure } from '../record/cancel-request.js';
import { journalFinished } from '../record/journal-end.js';
import { checkMarkerTrust } from '../record/marker-trust.js';
import { listMarkers, readMarker, type RunMarker } from '../record/markers.js';
import { openStateFile } from '../record/state-file.js';
import type { JournalEntry } from '../record/types.js';
import { isRunCgroupPath } from '../track/run-cgroup.js';
import { cancelMarkedRun, provenWrapper } from './cancel.js';
import type { Crossing, GuardSettings } from './pressure-guard.js';
import type { PressureStop } from './status-body.js';
import { takeOverRun, type ReapOutcome } from './reap.js';
import { lostRunTracker } from '../track/lost-run.js';

/** The least time a wrapper gets to act on the request, milliseconds (a run with --grace 0 gets this). */
const MIN_ACT_MS = 1000;
/** After it acted, how long past its grace period the guard waits for the run's end before it reads the host again. */
const END_WAIT_MS = 5000;
const POLL_MS = 20;
/**
 * The most the guard reads of a journal per poll, bytes: the journal is the run's user's file, and a
 * user could make it gigabytes (truncate -s 3G) for the root daemon to allocate during a shortage.
 * A stop or an end is one line of a few hundred bytes, written last.
 */
export const JOURNAL_TAIL_BYTES = 64 * 1024;
/** How long a run asked once stays out of the choice while its wrapper lives, milliseconds. */
const ASKED_FOR_MS = 60_000;

/** A run the guard could stop, with its tree's memory now. */
export interface Candidate {
  marker: RunMarker;
  pssBytes: number;
  rssBytes: number;
  processCount: number;
}

/** What one round did, for the log, /status and the metrics (the shape /status shows). */
export type GuardStop = PressureStop;

export interface StopContext {
  stateDir: string;
  database?: DatabaseConfig;
  /** Runs asked to stop, by id, with when (Date.now()); pruned here. */
  asked: Map<string, number>;
  log(line: string): void;
}

/** The runs of the state directory the guard may stop, largest tree PSS first. */
export function measureCandidates(stateDir: string, asked: ReadonlyMap<string, number>, nowMs = Date.now()): Candidate[] {
  const host = hostname();
  const ourNamespace = pidNamespace();
  const candidates: Candidate[] = [];
  for (const runId of listMarkers(stateDir)) {
    const marker = readMarker(stateDir, runId);
    if (!marker || marker.host !== host || !wrapperAlive(marker)) continue;
    if (nowMs - (asked.get(runId) ?? -Infinity) < ASKED_FOR_MS) continue;
    // Another PID namespace's pids are not ours to read or signal.
    if (marker.pid_ns !== null && marker.pid_ns !== undefined && marker.pid_ns !== ourNamespace) continue;
    if (journalFinished(join(stateDir, 'journal', `${runId}.jsonl`))) continue;
    const trust = checkMarkerTrust(stateDir, runId);
    if (!trust.trusted) continue;
    const cgroup = marker.cgroup_path;
    if (cgroup && isRunCgroupPath(cgroup, runId) && selfInsideCgroup(cgroup)) continue;
    // Only the marker's owner's processes (real and effective uid), root's run included: run ids
    // are public (a lifeline's argv), and anyone may start a process carrying another run's cookie
    // to make that run measure largest. In the run's own cgroup, only the cgroup's members count.
    const snapshot = lostRunTracker(marker, trust.uid, trust.uid).scan();
    if (snapshot.alive.length === 0) continue;
    const pssBytes = snapshot.alive.reduce((sum, member) => sum + pssOrFreshRssBytes(member.pid, member.starttime), 0);
    candidates.push({ marker, pssBytes, rssBytes: snapshot.rssBytes, processCount: snapshot.alive.length });
  }
  return pickOrder(candidates);
}

/** Candidates in the order the guard tries them: the largest tree PSS first; on a tie, the youngest run (the least work lost). */
export function pickOrder<C extends { pssBytes: number; marker: Pick<RunMarker, 'started_at' | 'id'> }>(candidates: readonly C[]): C[] {
  return [...candidates].sort((a, b) => b.pssBytes - a.pssBytes || b.marker.started_at.localeCompare(a.marker.started_at) || a.marker.id.localeCompare(b.marker.id));
}

/**
 * One round: measures the runs, asks the largest to stop, waits for its wrapper, takes over when it
 * does not act. A run whose stop is refused (not ours to signal) is passed over for the next.
 * @returns what was done, or undefined when there was no run to stop
 */
export async function stopForPressure(crossing: Crossing, settings: GuardSettings, context: StopContext): Promise<GuardStop | undefined> {
  const { stateDir, asked, log } = context;
  const now = Date.now();
  for (const [runId, atMs] of asked) if (now - atMs >= ASKED_FOR_MS) asked.delete(runId);
  const candidates = measureCandidates(stateDir, asked, now);
  for (const candidate of candidates) {
    const { marker } = candidate;
    const graceMs = Math.min(marker.grace_ms, HOST_PRESSURE_MAX_GRACE_MS);
    const { reading } = crossing;
    const pressure: HostPressure = {
      threshold: crossing.threshold,
      crossed_at: new Date(crossing.crossedAtMs).toISOString(),
      mem_available_bytes: reading.memAvailableBytes,
      mem_total_bytes: reading.memTotalBytes,
      min_available_bytes: settings.minAvailableBytes,
      psi_full_avg10: reading.psiFullAvg10,
      max_memory_pressure: settings.maxMemoryPressure,
      pressure_duration_ms: settings.pressureDurationMs,
      run_pss_bytes: candidate.pssBytes,
      grace_ms: graceMs,
    };
    const requestedBy = `${requesterName()} (scidex-watchdog serve, pressure guard)`;
    const request: CancelRequest = {
      signal: 'SIGTERM',
      // What an older wrapper, which knows no host_pressure, records as the cancel's reason.
      reason: `host_pressure: ${describeHostPressure(pressure)}`,
      requested_by: requestedBy,
      requested_at: new Date().toISOString(),
      request_id: null,
      host_pressure: pressure,
    };
    const journal = new JournalTail(join(stateDir, 'journal', `${marker.id}.jsonl`));
    const who = `run ${marker.id}${marker.analysis_id === null ? '' : ` (analysis ${marker.analysis_id})`}`;
    const result = await cancelMarkedRun(stateDir, marker, request);
    asked.set(marker.id, Date.now());
    const deliveredMs = Date.now();
    const stop = (by: GuardStop['by']): GuardStop => ({
      at: new Date(deliveredMs).toISOString(),
      run_id: marker.id,
      analysis_id: marker.analysis_id,
      threshold: crossing.threshold,
      crossed_at: pressure.crossed_at,
      mem_available_bytes: reading.memAvailableBytes,
      psi_full_avg10: reading.psiFullAvg10,
      run_pss_bytes: candidate.pssBytes,
      candidates: candidates.length,
      by,
      reaction_ms: Math.max(0, deliveredMs - crossing.crossedAtMs),
    });
    if (result.outcome === 'refused' || result.outcome === 'no_such_run') {
      log(`host memory pressure: cannot stop ${who}, the largest left (tree PSS ${formatSize(candidate.pssBytes)}): ${result.why}`);
      continue;
    }
    if (result.outcome === 'ended') {
      log(`host memory pressure: ${who} (tree PSS ${formatSize(candidate.pssBytes)}) was ending by itself: ${result.why}`);
      return stop('ended');
    }
    log(
      `host memory pressure: ${describeHostPressure(pressure)}; stopping ${who}, the largest of ${candidates.length} ` +
        `(tree PSS ${formatSize(candidate.pssBytes)}, ${candidate.processCount} processes): ${result.why}, grace ${formatDuration(graceMs)}`,
    );
    const actMs = Math.max(graceMs, MIN_ACT_MS);
    const acted = await waitFor(journal, marker, actMs, (entry) => isStop(entry) || isEnd(entry));
    let failed = `did not act within ${formatDuration(actMs)}`;
    let ended: 'seen' | 'gone' | 'timeout' = acted;
    if (acted === 'seen') {
      // A stop line is only a claim: the journal is the run's user's file, and anyone who can write
      // it can append one. What counts is the run's end; without it by the end wait, take it over.
      ended = journal.ended ? 'seen' : await waitFor(journal, marker, graceMs + END_WAIT_MS, isEnd);
      // So is an end line: a wrapper that wrote it ships and exits; one that lives on did not write it.
      if (ended === 'seen' && (await wrapperGone(marker, END_WAIT_MS))) return stop('wrapper');
      if (ended === 'seen') failed = `wrote no end it lived by: its journal shows one, but it did not exit within ${formatDuration(END_WAIT_MS)}`;
      if (ended === 'timeout') failed = `did not end the run within ${formatDuration(actMs + graceMs + END_WAIT_MS)} (its journal shows a stop)`;
    }
    if (ended === 'gone') {
      // The wrapper died before the run's end, most likely OOM-killed by the kernel: its tree still
      // holds the memory. The lifeline's reaper would end it with SIGTERM and the run's full --grace
      // while the next reading stopped the next-largest run: end it now, as for a wrapper that does not act.
      failed = 'died before it ended the run';
    }
    const outcome = await takeOver(stateDir, context, marker, candidate, pressure, requestedBy, failed);
    log(`host memory pressure: ${who}: its wrapper (pid ${marker.wrapper_pid}) ${failed}; ${describeTakeover(outcome)}`);
    if (outcome.verdict === 'busy' && outcome.refusedWhy === undefined) {
      // Another reaper holds the marker (the lifeline's, woken by the wrapper's death): the memory
      // comes back when it is done, and not before; the next victim waits for that.
      await waitForMarkerGone(stateDir, marker, marker.grace_ms + END_WAIT_MS);
      return stop('reaper');
    }
    // lost: the daemon ended it; finished: the wrapper did, after all; busy: it could not be taken over.
    return stop(outcome.verdict === 'lost' || (outcome.verdict === 'finished' && outcome.killed > 0) ? 'daemon' : outcome.verdict === 'finished' ? 'wrapper' : 'ended');
  }
  return undefined;
}

/** Waits until the run's wrapper has exited (proc: pid and starttime); false when it still lives after `ms`. */
async function wrapperGone(marker: RunMarker, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (wrapperAlive(marker)) {
    if (performance.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/** Waits until the run's marker is gone (its reaper has recorded it) or `ms` have passed. */
async function waitForMarkerGone(stateDir: string, marker: RunMarker, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (readMarker(stateDir, marker.id) && performance.now() < deadline) await sleep(POLL_MS);
}

function describeTakeover(outcome: ReapOutcome & { refusedWhy?: string; wrapperKilled?: boolean }): string {
  switch (outcome.verdict) {
    case 'lost': {
      // The wrapper may have died by itself between the wait and the marker's lock: say so, not that we killed it.
      const wrapper = outcome.wrapperKilled ? 'the daemon killed it and' : 'it was dead when the daemon took the run over; the daemon killed';
      return `${wrapper} the run's tree (${outcome.killed} processes signalled, ${outcome.refused} refused) and recorded the run out_of_memory (host_pressure)`;
    }
    case 'finished':
      // The journal ends the run: the wrapper's own end, or a line its user wrote while the tree went on.
      return outcome.killed > 0 ? `its journal ends the run, but ${outcome.killed} of its processes were still there: the daemon killed them (nothing recorded after the end)` : 'it had finished the run meanwhile';
    default:
      return outcome.refusedWhy ? `not taken over: ${outcome.refusedWhy}` : 'another reaper (the lifeline\'s) has the run: waiting for it to end the run';
  }
}

/** Ends the run ourselves (reap.ts takeOverRun): SIGKILL to the wrapper (when it still lives) and the tree, recorded out of memory. */
function takeOver(
  stateDir: string,
  context: StopContext,
  marker: RunMarker,
  candidate: Candidate,
  pressure: HostPressure,
  requestedBy: string,
  failed: string,
): Promise<ReapOutcome & { refusedWhy?: string; wrapperKilled?: boolean }> {
  const detail = { ...pressure, requested_by: requestedBy, taken_over: true };
  // Whether the daemon killed the wrapper or found it dead is the run_lost event's wrapper_killed (takeOverRun).
  const why = `its wrapper (pid ${marker.wrapper_pid}), asked to stop the run for host pressure, ${failed}: the daemon took the run over`;
  return takeOverRun(
    marker.id,
    { stateDir, database: context.database, warn: (line) => context.log(`warning: ${line}`) },
    {
      reason: 'host_pressure',
      signal: 'SIGKILL',
      graceMs: 0,
      stopEvent: { reason: 'host_pressure', rss_bytes: candidate.rssBytes, pss_bytes: candidate.pssBytes, detail },
      ending: { status: 'out_of_memory', exit_status: EXIT_OUT_OF_MEMORY, reason: 'host_pressure' },
      detail: { taken_over: why },
    },
    (proven) => {
      const result = provenWrapper(stateDir, proven);
      return typeof result === 'number' ? undefined : result.why;
    },
  );
}

/** A stop event of the wrapper's: its host-pressure limit_exceeded, or any stop already under way. */
function isStop(entry: JournalEntry): boolean {
  return entry.table === 'events' && (entry.record.kind === 'limit_exceeded' || entry.record.kind === 'cancel_requested');
}

/** The run's final version. */
function isEnd(entry: JournalEntry): boolean {
  return entry.table === 'runs' && entry.record.ended_at !== null && entry.record.ended_at !== undefined;
}

/**
 * Waits until the journal gets an entry that `matches`, the wrapper is gone, or `ms` have passed.
 * @returns seen, gone, or timeout
 */
async function waitFor(journal: JournalTail, marker: RunMarker, ms: number, matches: (entry: JournalEntry) => boolean): Promise<'seen' | 'gone' | 'timeout'> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (journal.read().some(matches)) return 'seen';
    if (!wrapperAlive(marker)) return journal.read().some(matches) ? 'seen' : 'gone';
    if (performance.now() >= deadline) return 'timeout';
    await sleep(POLL_MS);
  }
}

/**
 * The complete lines appended to a journal since the tail was made (it starts at the file's end
 * then): a journal of a long run may be megabytes, and the guard polls it every POLL_MS. At most
 * JOURNAL_TAIL_BYTES are read (and allocated) per read, whatever the file's size.
 */
export class JournalTail {
  private offset: number;
  /** The run's final version has been seen. */
  ended = false;

  constructor(private readonly path: string) {
    this.offset = this.size();
  }

  private size(): number {
    try {
      const fd = openStateFile(this.path);
      try {
        return fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
    } catch {
      return 0;
    }
  }

  /** The entries appended since the last read. */
  read(): JournalEntry[] {
    let fd: number;
    try {
      fd = openStateFile(this.path);
    } catch {
      return [];
    }
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) this.offset = 0;
      // Only the last JOURNAL_TAIL_BYTES of what is new: a skipped middle holds no line the guard
      // waits for (the stop and the end are written last), and a torn first line is dropped.
      const skipped = size - this.offset > JOURNAL_TAIL_BYTES;
      const start = skipped ? size - JOURNAL_TAIL_BYTES : this.offset;
      const length = size - start;
      if (length <= 0) return [];
      const buffer = Buffer.alloc(length);
      const got = readSync(fd, buffer, 0, length, start);
      const end = buffer.lastIndexOf(0x0a, got - 1);
      if (end < 0) {
        // No complete line in the whole window: nothing to wait for there (a sparse file, a huge line).
        if (skipped) this.offset = start;
        return [];
      }
      const first = skipped ? buffer.indexOf(0x0a) + 1 : 0;
      this.offset = start + end + 1;
      const entries: JournalEntry[] = [];
      for (const line of buffer.subarray(first, end).toString('utf8').split('\n')) {
        try {
          const entry = JSON.parse(line) as JournalEntry;
          if (entry && typeof entry === 'object' && entry.record) entries.push(entry);
        } catch {
          // A torn line: not a record.
        }
      }
      if (entries.some(isEnd)) this.ended = true;
      return entries;
    } catch {
      return [];
    } finally {
      closeSync(fd);
    }
  }
}
