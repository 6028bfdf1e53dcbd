/**
 * The reaper: finishes runs whose wrapper is gone (SIGKILL, the OOM killer, a crash). For each run
 * of this host that is not finished, it
 *   - decides whether the wrapper is alive: same boot, and /proc/<wrapper_pid> with the recorded
 *     starttime. After a reboot (another boot id) nothing of the run can be alive: it is only marked;
 *   - finds what is left of the tree without trusting the record: the run's cgroup (only a path
 *     ending in /scidex-run/<run id>), or else processes started after the wrapper that carry the
 *     run's cookie in their environment, and their children (the strict pgroup tracker);
 *   - logs a kill_refused event for a process the record names that fails those checks (a reused
 *     pid, or the right pid and starttime without the cookie), and never signals it;
 *   - terminates the rest (first signal, grace, SIGKILL), marks the run `lost` with its events,
 *     removes the marker and the cgroup (and the run's v1 memory cgroup, the kernel backstop on
 *     hosts with the memory controller on cgroup v1, where the marker names one).
 * A marker is a claim, not a proof: journal and cgroup paths are recomputed from the run id.
 *
 * An adopted run (`scidex-watchdog adopt`) is reaped the same way when its tree is in the run's
 * cgroup: the supervisor moved it there after identifying each process, and what is in it is the
 * run's. Without a cgroup its processes carry no cookie, and nothing else proves them the run's
 * (a pid and starttime in a file are no proof): the reaper signals none, logs a kill_refused for its
 * leader, and records the run lost. A released one (its journal holds the release) is never signalled.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../config/duration.js';
import { exitStatusOfSignal } from '../config/exit-codes.js';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { DatabaseConfig } from '../config/database.js';
import { environReadable } from '../proc/environ.js';
import { readStat } from '../proc/stat.js';
import { bootId } from '../proc/system.js';
import { Journal, readJournal } from '../record/journal.js';
import { listMarkers, lockMarker, readMarker, removeMarker, unlockMarker, type RunMarker } from '../record/markers.js';
import { Recorder } from '../record/recorder.js';
import { NOT_ENDED, RunLog } from '../record/run-log.js';
import type { RunRecord } from '../record/types.js';
import { latestVersions } from '../record/run-version.js';
import { terminateTree } from '../terminate/sequence.js';
import { signalMember } from '../terminate/guard.js';
import { memberKey, type Member } from '../track/member.js';
import { foreignOwner, lostRunTracker, ownedBy } from '../track/lost-run.js';
import { isRunCgroupPath, removeCgroupTree } from '../track/run-cgroup.js';
import { isV1RunCgroupPath } from '../track/memory-backstop.js';
import { giveBackPath } from '../track/adopt-tree.js';
import type { Tracker } from '../track/tracker.js';
import { fateOf, recordTermination } from '../record/termination-records.js';
import { selfInsideCgroup } from '../proc/cgroup.js';
import { wrapperAlive } from '../proc/liveness.js';
import { checkMarkerTrust } from '../record/marker-trust.js';
import { endingUnderWay, type EndingUnderWay } from '../record/ending-under-way.js';

const SHIP_TIMEOUT_MS = 5000;

/** What the reaper did with one run. */
export interface ReapOutcome {
  runId: string;
  /** alive: the wrapper runs; finished: nothing to do; lost: marked lost; busy: another reaper has it. */
  verdict: 'alive' | 'finished' | 'lost' | 'busy';
  /** Processes signalled. */
  killed: number;
  /** Processes the record named that failed the identity or cookie check. */
  refused: number;
  survivors: number;
  /**
   * Records of this reaper that reached neither the journal nor PostgreSQL (a full disk and the
   * server down at once); when any did, the marker stays and a later reaper finishes the run.
   */
  unrecorded?: number;
}

export interface ReapOptions {
  stateDir: string;
  database?: DatabaseConfig;
  warn(line: string): void;
  /**
   * The user the run's marker speaks for (its file's owner). When it is neither root nor us (root
   * reaping a user's state directory), only that user's processes, and a cgroup that user owns, may
   * be signalled: a user who forged a marker with the id of someone else's run gets nothing of theirs killed.
   * It is also the run's user: a process found by the cookie alone counts only when it runs as this
   * user (root included). Undefined (a database row with no marker): nothing says whose the run is.
   */
  processOwner?: number;
}

/** Reaps every run with a marker in the state directory. */
export async function reapStateDir(options: ReapOptions): Promise<ReapOutcome[]> {
  const outcomes: ReapOutcome[] = [];
  for (const runId of listMarkers(options.stateDir)) {
    const outcome = await reapMarkedRun(runId, options);
    if (outcome) outcomes.push(outcome);
  }
  return outcomes;
}

/** Reaps one run with a marker; undefined when there is no such marker (or it is another host's). */
export async function reapMarkedRun(runId: string, options: ReapOptions): Promise<ReapOutcome | undefined> {
  const marker = readMarker(options.stateDir, runId);
  if (!marker || marker.host !== hostname()) return undefined;
  const trust = checkMarkerTrust(options.stateDir, runId);
  if (!trust.trusted) {
    options.warn(`run ${runId}: its marker is not acted on: ${trust.why}`);
    return undefined;
  }
  const none = { runId, killed: 0, refused: 0, survivors: 0 };
  if (wrapperAlive(marker)) return { ...none, verdict: 'alive' };
  // A reaper inside the run's own cgroup (started by a scidex-run nested in it) must not freeze or kill it.
  const cgroup = marker.cgroup_path;
  if (cgroup && isRunCgroupPath(cgroup, runId) && selfInsideCgroup(cgroup)) return { ...none, verdict: 'busy' };
  if (!lockMarker(options.stateDir, runId)) return { ...none, verdict: 'busy' };
  return finishLocked(marker, trust.uid, options);
}

/** What the daemon's pressure guard asks of a reaper that takes a run over from a wrapper that did not act. */
export interface Takeover {
  /** The reason of the signal events and of run_lost: `host_pressure`. */
  reason: string;
  /** The first signal to the tree, and the grace period after it (the wrapper already had its own). */
  signal: NodeJS.Signals;
  graceMs: number;
  /** The stop event journaled first when the journal holds none (the wrapper never wrote its own), and the ending it means. */
  stopEvent: Parameters<RunLog['event']>[1];
  ending: EndingUnderWay;
  /** More for the run_lost event's detail: why the wrapper is gone (takeOverRun adds `wrapper_killed`: whether it SIGKILLed it). */
  detail: Record<string, unknown>;
}

/**
 * Ends a run whose wrapper lives but did not act on the daemon's host-pressure stop within its grace
 * period (stopped, wedged): under the marker's lock, so that no other reaper (the lifeline's, which
 * wakes when the wrapper dies, or a sweep's) finishes it too, the wrapper is proven to be the run's
 * (cancel.ts provenWrapper) and SIGKILLed, and then the run is finished as a reaper finishes a lost
 * one: the tree found by its cgroup or its cookie and start after the wrapper's, killed, and recorded.
 * With the wrapper dead, this reaper is the journal's only writer (docs/records.md, the records
 * protocol). A wrapper that had acted late (its stop event is in the journal by now) or finished the
 * run meanwhile is recorded as what it wrote: the ending under way, or nothing at all.
 * @param proveWrapper the same checks as a cancel's (uid, the journal held open): a reason to refuse, or undefined
 */
export async function takeOverRun(
  runId: string,
  options: ReapOptions,
  takeover: Takeover,
  proveWrapper: (marker: RunMarker) => string | undefined,
): Promise<ReapOutcome & { refusedWhy?: string; wrapperKilled?: boolean }> {
  const none = { runId, killed: 0, refused: 0, survivors: 0 };
  const marker = readMarker(options.stateDir, runId);
  if (!marker || marker.host !== hostname()) return { ...none, verdict: 'finished' };
  const trust = checkMarkerTrust(options.stateDir, runId);
  if (!trust.trusted) return { ...none, verdict: 'busy', refusedWhy: `its marker is not to be trusted: ${trust.why}` };
  const cgroup = marker.cgroup_path;
  if (cgroup && isRunCgroupPath(cgroup, runId) && selfInsideCgroup(cgroup)) return { ...none, verdict: 'busy', refusedWhy: 'the daemon runs inside its cgroup' };
  if (!lockMarker(options.stateDir, runId)) return { ...none, verdict: 'busy' };
  // Whether this call SIGKILLed the wrapper: it may have died by itself since the caller looked.
  let wrapperKilled = false;
  if (wrapperAlive(marker)) {
    const wrapper = { pid: marker.wrapper_pid, starttime: marker.wrapper_starttime };
    const why = proveWrapper(marker) ?? (signalMember(wrapper, 'SIGKILL') === 'refused' ? `not permitted to signal its wrapper (pid ${wrapper.pid})` : undefined);
    if (why !== undefined && wrapperAlive(marker)) {
      unlockMarker(options.stateDir, runId);
      return { ...none, verdict: 'busy', refusedWhy: why };
    }
    wrapperKilled = why === undefined;
    // SIGKILL is final; the exit takes a moment (its memory is released first).
    const deadline = performance.now() + WRAPPER_EXIT_WAIT_MS;
    while (wrapperAlive(marker) && performance.now() < deadline) await sleep(10);
    if (wrapperAlive(marker)) {
      unlockMarker(options.stateDir, runId);
      return { ...none, verdict: 'busy', refusedWhy: `its wrapper (pid ${wrapper.pid}) outlived SIGKILL for ${formatDuration(WRAPPER_EXIT_WAIT_MS)}` };
    }
  }
  const outcome = await finishLocked(marker, trust.uid, options, { ...takeover, detail: { ...takeover.detail, wrapper_killed: wrapperKilled } });
  return { ...outcome, wrapperKilled };
}

/** How long a SIGKILLed wrapper may take to exit, milliseconds. */
const WRAPPER_EXIT_WAIT_MS = 2000;

/** Finishes a run whose marker's lock we hold (its wrapper dead); removes the marker once recorded, else unlocks it. */
async function finishLocked(marker: RunMarker, owner: number, options: ReapOptions, takeover?: Takeover): Promise<ReapOutcome> {
  const runId = marker.id;
  const none = { runId, killed: 0, refused: 0, survivors: 0 };
  let finished = false;
  try {
    const journalPath = join(options.stateDir, 'journal', `${runId}.jsonl`);
    const latest = existsSync(journalPath) ? latestRunRecord(journalPath) : undefined;
    if (latest?.ended_at) {
      // A takeover's run was proved alive a moment ago, and its journal is its user's to write: an
      // ending there may be a line of theirs while the tree goes on holding the host's memory. What
      // the guard measured is killed all the same; nothing is journaled after an ending (docs/records.md).
      const killed = takeover ? await killLeftovers(marker, owner, takeover, options.warn) : 0;
      // Only a cgroup the marker's user owns, when that is not us or root: a user's journal may name anyone's.
      const cgroup = latest.cgroup_path;
      if (cgroup && isRunCgroupPath(cgroup, runId) && ownedBy(cgroup, foreignOwner(owner))) removeCgroupTree(cgroup);
      removeMemoryCgroupV1(marker, foreignOwner(owner));
      finished = true;
      return { ...none, killed, verdict: 'finished' };
    }
    const underWay = existsSync(journalPath) ? endingUnderWay(readJournal(journalPath).entries) : undefined;
    const journal = existsSync(journalPath) ? Journal.reopen(journalPath) : Journal.create(join(options.stateDir, 'journal'), runId);
    const outcome = await finishLostRun(marker, latest, journal, { ...options, processOwner: owner }, underWay, takeover);
    // Its ending reached no store: without the marker no one would ever finish the run, and its row
    // would stay `running` for good. What was killed stays killed; the next reaper records it.
    finished = !outcome.unrecorded;
    return outcome;
  } finally {
    // A reaper that failed leaves the marker for the next one.
    if (finished) removeMarker(options.stateDir, runId);
    else unlockMarker(options.stateDir, runId);
  }
}

/**
 * Kills what is left of a run whose wrapper is gone and records it as lost, or, when the wrapper had
 * begun to end it (record/ending-under-way.ts), as that ending. Also used for a database row with
 * no marker on this host (`scidex-watchdog reap` over PostgreSQL).
 * @param latest the newest journaled run row, when there is one (it names the leader)
 */
export async function finishLostRun(
  identity: RunMarker,
  latest: RunRecord | undefined,
  journal: Journal,
  options: ReapOptions,
  /** The ending the wrapper had begun (its journal's stop event): recorded instead of `lost`. */
  underWay?: EndingUnderWay,
  /** The daemon's pressure guard ending a run whose wrapper did not act (takeOverRun). */
  takeover?: Takeover,
): Promise<ReapOutcome> {
  const recorder = new Recorder(journal, options.database, options.warn);
  const base: RunRecord = latest ?? {
    ...identity,
    revision: 0,
    pid: null,
    pgid: null,
    leader_starttime: null,
    heartbeat_at: identity.started_at,
    ...NOT_ENDED,
    peak_rss_bytes: 0,
    peak_pss_bytes: null,
    cpu_seconds: 0,
    peak_process_count: 0,
    process_count: 0,
  };
  const log = new RunLog({ ...identity, journal_path: journal.path }, recorder, base.revision);
  const rebooted = identity.boot_id !== bootId();
  const released = underWay?.status === 'released';
  const ownedCgroup = identity.cgroup_path && isRunCgroupPath(identity.cgroup_path, identity.id) && ownedBy(identity.cgroup_path, foreignOwner(options.processOwner)) ? identity.cgroup_path : undefined;
  // An adopted tree outside a run cgroup is left alone (below): nothing of it is signalled, so no
  // stop the wrapper had begun is carried out, and the run is recorded as what it is, lost.
  const leftAlone = !rebooted && (released || (identity.adopted === true && !ownedCgroup));
  // (A takeover's detail, why the wrapper was killed, is kept; its reason and stop are not: none is acted on.)
  const takeoverDetail = takeover?.detail;
  if (leftAlone && !released) {
    underWay = undefined;
    takeover = undefined;
  }
  const reason = takeover?.reason ?? (rebooted ? 'host_rebooted' : 'wrapper_gone');
  if (takeover && !underWay) {
    // The wrapper never wrote why the run stops: the stop is written here, before the first signal, as a wrapper would.
    log.event('limit_exceeded', takeover.stopEvent, true);
    underWay = takeover.ending;
  }
  let killed = 0;
  let refused = 0;
  let survivors: Member[] = [];
  let members: Member[] = [];
  /** The last signal this reaper sent the run's leader (pid and starttime of the record), if any. */
  let leaderSignal: NodeJS.Signals | undefined;
  if (leftAlone) {
    // An adopted tree that is not in the run's cgroup carries no cookie of the run: nothing proves
    // which processes are its, so none is signalled; a released one is no run's any more.
    if (released && ownedCgroup) {
      const stuck = giveBackPath(ownedCgroup);
      if (stuck.length === 0) removeCgroupTree(ownedCgroup);
    }
    refused = leaveAdoptedAlone(base, log, released ? 'released: its tree is no run\'s any more' : 'adopted: its processes carry no cookie of the run, and are not in a run cgroup, so none is signalled once its supervisor is gone');
  } else if (!rebooted) {
    const owner = foreignOwner(options.processOwner);
    // The pressure guard kills only what it measured (pressure-stop.ts): the marker's owner's
    // processes, root's included, never another user's process that merely carries the cookie.
    const tracker = lostRunTracker(identity, takeover ? options.processOwner : owner, options.processOwner);
    refused = refuseStrangers(base, tracker, log);
    const lastSignal = new Map<Member, NodeJS.Signals>();
    const result = await terminateTree(tracker, {
      signal: takeover?.signal ?? 'SIGTERM',
      graceMs: takeover?.graceMs ?? identity.grace_ms,
      // Whole groups only for our own runs: a group signal reaches every process in it, of any user.
      cookie: owner === undefined ? `SCIDEX_RUN_ID=${identity.id}` : undefined,
      runUser: options.processOwner,
      hooks: recordTermination(log, reason, lastSignal),
    });
    killed = lastSignal.size;
    for (const [member, signal] of lastSignal) if (member.pid === base.pid && member.starttime === base.leader_starttime) leaderSignal = signal;
    survivors = result.survivors;
    members = tracker.members();
    log.processes(members, (member) => fateOf(member, lastSignal));
    if (survivors.length === 0) {
      tracker.release();
      removeMemoryCgroupV1(identity, owner);
    }
  }
  // Only a reaper of the wrapper's own boot saw the ending under way cut short: after a reboot, the
  // row stays a `lost` (docs/records.md: such a row says nothing of who else may still write).
  const ending = rebooted ? undefined : underWay;
  const detail = {
    killed,
    refused,
    survivors: survivors.map((m) => m.pid),
    reaper_pid: process.pid,
    ...(ending ? { recorded_as: ending.status } : {}),
    ...takeoverDetail,
  };
  log.event('run_lost', { reason, pid: base.pid, pids: members.map((member) => member.pid), detail }, true);
  // The final version last: the protocol's end (docs/records.md).
  log.run({
    ...base,
    ended_at: new Date().toISOString(),
    status: ending?.status ?? 'lost',
    // An adopted process's own status is unknown to its reaper (124 or 137 would be a guess): an
    // ending it carried out records 128 + the last signal it sent the leader, as its supervisor
    // would have (docs/records.md); a `lost` row, or a leader it never signalled, null.
    exit_status: identity.adopted ? (ending && leaderSignal ? exitStatusOfSignal(leaderSignal) : null) : (ending?.exit_status ?? null),
    reason: ending?.reason ?? reason,
    process_count: Math.max(base.process_count, members.length),
  });
  if ((await recorder.close(SHIP_TIMEOUT_MS)) === 'busy') recorder.warnRecordsWait();
  return { runId: identity.id, verdict: 'lost', killed, refused, survivors: survivors.length, unrecorded: recorder.lostRecords };
}

/**
 * Removes the run's v1 memory cgroup the marker names, when it is a run's (below the v1 memory
 * mount, ending in /scidex-run/<run id>), belongs to `owner` when given, and is empty (rmdir only
 * removes an empty cgroup). What is left in it is the stale sweep's later (track/stale-cgroups.ts).
 */
function removeMemoryCgroupV1(identity: RunMarker, owner: number | undefined): void {
  const cgroup = identity.memory_cgroup_v1;
  if (cgroup && isV1RunCgroupPath(cgroup, identity.id) && ownedBy(cgroup, owner)) removeCgroupTree(cgroup);
}

/**
 * Logs a kill_refused for the leader of an adopted run that is left alone (when it is alive with
 * its recorded starttime): the reaper of a dead adopting supervisor signals nothing of a tree it
 * cannot prove (module comment).
 * @returns how many were refused (0 or 1)
 */
function leaveAdoptedAlone(run: RunRecord, log: RunLog, why: string): number {
  if (run.pid === null || run.leader_starttime === null) return 0;
  const stat = readStat(run.pid);
  if (!stat || stat.starttime !== run.leader_starttime) return 0;
  log.event('kill_refused', { reason: why, pid: run.pid, detail: { recorded_starttime: run.leader_starttime, found_starttime: stat.starttime, comm: stat.comm, adopted: true } }, true);
  return 1;
}

/**
 * Kills what is left of a taken-over run whose journal already ends it, with the takeover's signal
 * and grace, recording nothing: the processes the guard measured (the marker owner's, in the run's
 * cgroup or carrying its cookie), never another user's.
 * @returns how many were signalled
 */
async function killLeftovers(marker: RunMarker, owner: number, takeover: Takeover, warn: (line: string) => void): Promise<number> {
  const tracker = lostRunTracker(marker, owner, owner);
  const reached = new Set<string>();
  const result = await terminateTree(tracker, {
    signal: takeover.signal,
    graceMs: takeover.graceMs,
    cookie: foreignOwner(owner) === undefined ? `SCIDEX_RUN_ID=${marker.id}` : undefined,
    runUser: owner,
    hooks: {
      onSignal: (_signal, members) => members.forEach((member) => reached.add(memberKey(member.pid, member.starttime))),
      onEnded: () => undefined,
      onKillFailed: (error) => warn(`run ${marker.id}: ${error.message}`),
    },
  });
  if (result.survivors.length === 0) tracker.release();
  return reached.size;
}

/** The journal's winning run version (run-version.ts), undefined when it holds none. */
function latestRunRecord(path: string): RunRecord | undefined {
  const runs = readJournal(path)
    .entries.filter((entry) => entry.table === 'runs')
    .map((entry) => entry.record as RunRecord);
  return latestVersions(runs).at(-1);
}

/**
 * The leader the record names, when it is alive but not found by the tracker: its pid was reused
 * (another starttime) or it lacks the cookie. Logged, never signalled.
 * @returns how many were refused
 */
function refuseStrangers(run: RunRecord, tracker: Tracker, log: RunLog): number {
  if (run.pid === null) return 0;
  const members = tracker.scan().alive;
  const stat = readStat(run.pid);
  if (!stat || members.some((member) => member.pid === run.pid && member.starttime === stat.starttime)) return 0;
  const why =
    stat.starttime !== run.leader_starttime
      ? 'pid reused: another starttime'
      : environReadable(run.pid)
        ? 'no cookie of the run in its environment'
        : 'its environment is unreadable here (another user, and no CAP_SYS_PTRACE): the cookie cannot be checked';
  log.event('kill_refused', {
    reason: why,
    pid: run.pid,
    detail: { recorded_starttime: run.leader_starttime, found_starttime: stat.starttime, comm: stat.comm },
  }, true);
  return 1;
}
