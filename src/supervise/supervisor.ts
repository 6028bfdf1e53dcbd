/**
 * One run's life, and the only state machine of the product:
 *
 *   spawn -> monitor (ticks: track, peaks, memory) -> leader exits | limit | cancel
 *         -> [termination sequence] -> [orphans: kill | wait (monitor on) | ignore] -> records -> status
 *
 * The wall-clock limit is a timer armed at the spawn, not a poll, so the tree gets its first
 * signal within milliseconds of the deadline. Memory is checked every tick on the cheap RSS sum;
 * the dear PSS sum is read only when RSS is over the limit, and the kill decision is made on PSS
 * (forked workers share pages that RSS counts once per process).
 */
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { endedForTimeLimit, slurmJob } from '../config/slurm.js';
import type { RunConfig } from '../config/run-config.js';
import { MAX_TIMER_MS, formatDuration } from '../config/duration.js';
import { formatSize } from '../config/size.js';
import { cgroupPopulated } from '../proc/cgroup.js';
import { readStat } from '../proc/stat.js';
import { CLOCK_TICKS_PER_SECOND } from '../proc/system.js';
import { signalMember, signalsUsePidfd } from '../terminate/guard.js';
import { terminateTree } from '../terminate/sequence.js';
import { CgroupWriteError, freezeCgroup, thawCgroup } from '../terminate/cgroup-kill.js';
import { failpoint } from '../sys/failpoint.js';
import { memberKey, type Member } from '../track/member.js';
import { openTracker, type TrackingSetup } from '../track/select.js';
import type { Tracker, TreeSnapshot } from '../track/tracker.js';
import { reapAdoptedZombies } from './adopted.js';
import { announceStop } from './announce.js';
import { deferred } from './deferred.js';
import { EXIT_INTERNAL } from '../config/exit-codes.js';
import { leaderStatus, runOutcome, spawnFailureStatus, type LeaderExit, type StopReason } from './exit-status.js';
import { CANCELLING_SIGNALS, onWrapperSignals } from './forward.js';
import { nextPollDelay } from './poll.js';
import { NOT_ENDED, type RunLog, type RunProgress } from '../record/run-log.js';
import { cancelDetail, describeRequester, takeCancelRequest } from '../record/cancel-request.js';
import { redactArgv } from '../record/redact.js';
import { fateOf, recordKillFailure, recordTermination } from '../record/termination-records.js';
import { Sampler, type DueSample } from './sampler.js';
import { spawnLeader, type Leader } from './spawn.js';
import { RunGroups } from '../terminate/run-groups.js';
import { largestMembers, treePssBytes } from './tree-memory.js';

/** How long to wait for the leader's exit after a sequence that could not kill everything. */
const LEADER_EXIT_WAIT_MS = 5000;
/** How long a leader's death by a cancelling signal waits for the wrapper's own copy of it, milliseconds. */
const COMPANION_SIGNAL_MS = 200;
const COMPANION_POLL_MS = 5;
/**
 * Scan interval of the settle window, milliseconds: a helper that leaves 10-15 ms after the leader
 * is seen gone within a few ms of it, and a chain that hops every few ms is seen by some scan.
 */
const SETTLE_POLL_MS = 5;

/** Where the supervisor's one-line messages go; `info` is silenced by --quiet, `error` never. */
export interface Messages {
  info(line: string): void;
  error(line: string): void;
}

export class Supervisor {
  private tracker: Tracker | undefined;
  private leader: Leader | undefined;
  /** The leader's starttime (proc(5) stat field 22), read right after the spawn. */
  private leaderStarttime: number | undefined;
  private stop: StopReason | undefined;
  /** Ends the monitor's current sleep early: set while it sleeps. */
  private wake: (() => void) | undefined;
  private readonly hurry = deferred();
  private terminating = false;
  /** In the settle window after the leader's exit (settle()). */
  private settling = false;
  /** A cancel under --orphans ignore ended the settle window early. */
  private settleCut = false;
  private unkillable = false;
  private finished = false;
  private readonly lastSignal = new Map<Member, NodeJS.Signals>();
  private treeRssBytes = 0;
  private peakRssBytes = 0;
  private peakPssBytes: number | null = null;
  private lastPssBytes: number | null = null;
  private peakProcessCount = 0;
  /** When the PSS sum was last read (TreeSnapshot.atMs), so a sample carries it only from that tick. */
  private lastPssAtMs = -1;
  private readonly sampler: Sampler;
  private lastHeartbeatMs = Date.now();

  /**
   * @param tracking the backend set up for this run (before the spawn: the cgroup exists, the
   *                 subreaper flag is set)
   * @param helpers our children that are not part of the run (the lifeline, background reapers), by identity
   */
  constructor(
    private readonly config: RunConfig,
    private readonly log: RunLog,
    private readonly messages: Messages,
    private readonly tracking: TrackingSetup,
    private readonly helpers: readonly { pid: number; starttime: number }[] = [],
  ) {
    this.sampler = new Sampler(config.sampleIntervalMs);
  }

  /**
   * Runs the command to the end and returns scidex-run's exit status (docs/design.md §2).
   * The wrapper's signal handlers are installed for the duration of the call.
   */
  async run(env: NodeJS.ProcessEnv): Promise<number> {
    onWrapperSignals((signal) => this.guarded(() => this.onWrapperSignal(signal)));
    let timer: NodeJS.Timeout | undefined;
    try {
      const spawned = await spawnLeader(this.config.command, env, this.tracking.cgroup);
      if (!('pid' in spawned)) return this.failedToStart(spawned.code, spawned.message);
      this.leader = spawned;
      // Alive or an unreaped zombie until libuv's callback runs, so its stat is there.
      this.leaderStarttime = readStat(spawned.pid)?.starttime;
      // Still before any libuv callback: the leader is alive or an unreaped zombie, so the first
      // scan knows its starttime.
      this.tracker = openTracker(this.tracking, {
        leaderPid: spawned.pid,
        cookie: this.cookie(),
        minStarttime: this.log.identity.wrapper_starttime,
        excluded: new Set([memberKey(process.pid, this.log.identity.wrapper_starttime), ...this.helperKeys()]),
      });
      this.observe(this.tracker.scan());
      this.recordStart();
      // koffi takes ~25 ms to load: pay it now, while the run is young, not at the first kill.
      setImmediate(() => this.guarded(() => void signalsUsePidfd()));
      if (this.config.timeoutMs > 0) {
        // setTimeout fires at once beyond 2^31-1 ms (24.8 days): re-arm until the monotonic deadline.
        const deadline = performance.now() + this.config.timeoutMs;
        const arm = (): void => {
          const left = deadline - performance.now();
          if (left <= 0) this.guarded(() => this.requestStop({ kind: 'timeout' }));
          else timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
        };
        arm();
      }
      void spawned.exited.then(() => this.wake?.());

      await this.monitor(true, () => false);
      if (!this.stop) await this.awaitCompanionSignal(await spawned.exited);
      if (!this.stop) await this.handleOrphans();
      if (this.stop) await this.terminate(this.stopReasonText(this.stop), this.firstSignal(this.stop));
      return this.finish(await this.leaderExit(spawned));
    } catch (error) {
      const message = `internal error: ${(error as Error).message}`;
      this.messages.error(`${message}; killing the run`);
      if (this.tracker) await this.terminate('internal_error', 'SIGKILL').catch(() => undefined);
      this.recordInternalError(message);
      return EXIT_INTERNAL;
    } finally {
      clearTimeout(timer);
      this.finished = true;
      if (this.tracker) this.tracker.release();
      else this.tracking.cgroup?.remove();
    }
  }

  /** The run's environment entry, `SCIDEX_RUN_ID=<uuid>`: the cookie its processes carry. */
  private cookie(): string {
    return `SCIDEX_RUN_ID=${this.log.identity.id}`;
  }

  /** Children of ours that libuv waits for: never reaped by us, never members. */
  private helperKeys(): string[] {
    return this.helpers.map((helper) => memberKey(helper.pid, helper.starttime));
  }

  /** `pid:starttime` of the children libuv waits for (the leader, the helpers): never reaped by us. */
  private spawnedKeys(): Set<string> {
    // The leader by the identity it had at the spawn, never by what a scan classified: a leader
    // reaped here would never reach libuv, and the run would wait for its exit for ever.
    const leader = this.leader && this.leaderStarttime !== undefined ? [memberKey(this.leader.pid, this.leaderStarttime)] : [];
    return new Set([...leader, ...this.helperKeys()]);
  }

  /**
   * The leader's exit. After a termination sequence that left survivors (a leader stuck in
   * uninterruptible sleep, or one we may not signal) it may never come: then we stop waiting.
   */
  private async leaderExit(leader: Leader): Promise<LeaderExit> {
    if (!this.unkillable) return leader.exited;
    const gaveUp: LeaderExit = { code: EXIT_INTERNAL, signal: null };
    return Promise.race([leader.exited, sleep(LEADER_EXIT_WAIT_MS).then(() => gaveUp)]);
  }

  /** Runs a callback of a timer or signal handler; what it throws is reported, never fatal. */
  private guarded(callback: () => void): void {
    if (this.finished) return;
    try {
      callback();
    } catch (error) {
      this.messages.error(`internal error: ${(error as Error).message}`);
    }
  }

  /** Ticks until the leader has exited (with `untilLeaderExit`), `until` holds for a scan, or a stop is requested. */
  private async monitor(untilLeaderExit: boolean, until: (snapshot: TreeSnapshot) => boolean): Promise<void> {
    const tracker = this.tracker!;
    let exited = false;
    if (untilLeaderExit) void this.leader!.exited.then(() => (exited = true));
    let delay = this.config.pollMinMs;
    let previous = { rssBytes: 0, atMs: Date.now() };
    while (!exited && !this.stop) {
      await this.sleep(delay);
      if (exited || this.stop) break;
      const snapshot = tracker.scan();
      this.observe(snapshot);
      const over = this.overMemoryLimit(snapshot);
      this.record(snapshot);
      if (until(snapshot) || over) break;
      delay = nextPollDelay({
        minMs: this.config.pollMinMs,
        maxMs: this.config.pollMaxMs,
        previousMs: delay,
        limitBytes: this.config.memoryLimitBytes,
        rssBytes: snapshot.rssBytes,
        previousRssBytes: previous.rssBytes,
        elapsedMs: snapshot.atMs - previous.atMs,
      });
      previous = snapshot;
    }
  }

  /** Sleeps `ms`, or less when the leader exits or a stop is requested. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /**
   * A leader dead of SIGTERM, SIGINT or SIGHUP may have been signalled together with its wrapper: a
   * scheduler ending a job signals every process of it at once (slurmstepd), and the wrapper's own
   * copy may reach it a moment after the leader's exit. Waits up to COMPANION_SIGNAL_MS for that
   * signal, so that the run is recorded as the cancel (or time limit) it is, not as a command that failed.
   */
  private async awaitCompanionSignal(exit: LeaderExit): Promise<void> {
    if (!exit.signal || !CANCELLING_SIGNALS.has(exit.signal)) return;
    const end = performance.now() + COMPANION_SIGNAL_MS;
    while (!this.stop && performance.now() < end) await sleep(COMPANION_POLL_MS);
  }

  /**
   * The leader has exited by itself. What exits by itself within the settle window is not an
   * orphan (fate `exited`, no event, no signal); whatever of the tree is still alive after it is.
   */
  private async handleOrphans(): Promise<void> {
    const tracker = this.tracker!;
    const settled = await this.settle();
    if (settled.empty || this.stop) return;
    let snapshot = settled.snapshot;
    let stopped: RunGroups | undefined;
    // Only the kernel (a populated cgroup) or the run's groups say the tree is not over: a chain that
    // forks and exits faster than a scan, whose listed pid was gone by the time its stat was read.
    // Held still (frozen, or stopped whole), it stands where the next scan finds it.
    // A cgroup.freeze the kernel refuses is journaled, and the run's groups are stopped instead.
    let freezeRefused = false;
    if (snapshot.alive.length === 0 && tracker.cgroupPath) {
      try {
        if (await freezeCgroup(tracker.cgroupPath)) snapshot = tracker.scan();
        // Thawed at once: the orphans' SIGTERM must find them able to act on it within the grace period.
        thawCgroup(tracker.cgroupPath);
      } catch (error) {
        if (!(error instanceof CgroupWriteError)) throw error;
        recordKillFailure(this.log, 'orphans', error);
        freezeRefused = error.operation === 'freeze';
      }
    }
    if (snapshot.alive.length === 0 && (!tracker.cgroupPath || freezeRefused)) {
      const groups = new RunGroups(this.cookie());
      if (groups.signal(tracker.members(), 'SIGSTOP') > 0) {
        stopped = groups;
        snapshot = tracker.scan();
      }
    }
    this.observe(snapshot);
    const resume = () => stopped?.signal(tracker.members(), 'SIGCONT');
    if (snapshot.alive.length === 0) {
      resume();
      return;
    }
    for (const orphan of snapshot.alive) {
      this.log.event('orphan_found', {
        reason: 'orphans',
        pid: orphan.pid,
        process_rss_bytes: orphan.rssBytes,
        rss_bytes: snapshot.rssBytes,
        detail: { argv: redactArgv(orphan.argv), found_by: orphan.foundBy, policy: this.config.orphans },
      });
    }
    const pids = snapshot.alive.map((member) => member.pid).join(', ');
    const count = `${snapshot.alive.length} process${snapshot.alive.length === 1 ? '' : 'es'}`;
    switch (this.config.orphans) {
      case 'ignore':
        resume();
        this.messages.info(`orphans: ${count} outlived the command and are left running (--orphans ignore): pids ${pids}`);
        return;
      case 'wait': {
        resume();
        this.messages.info(`orphans: waiting for ${count} that outlived the command (--orphans wait): pids ${pids}`);
        const groups = this.runGroups();
        await this.monitor(false, (next) => this.treeOver(next, groups));
        return;
      }
      case 'kill':
        this.messages.info(
          `orphans: ${count} outlived the command (pids ${pids}); sending ${this.config.killSignal.name}, SIGKILL after ${formatDuration(this.config.graceMs)}`,
        );
        if (!this.stop) await this.terminate('orphans', this.config.killSignal.name);
    }
  }

  /**
   * The settle window (--orphan-settle): scans every SETTLE_POLL_MS until the tree is empty, a stop
   * is requested, or the window is over. Empty means no live member, and also, with a cgroup, a
   * cgroup the kernel says is unpopulated, and without one, no process group of the run in use. The
   * many scans are also what finds a chain that forks and exits faster than one scan: one sight of
   * any hop, by its cookie, names its group.
   */
  private async settle(): Promise<{ snapshot: TreeSnapshot; empty: boolean }> {
    const tracker = this.tracker!;
    const groups = this.runGroups();
    const end = performance.now() + this.config.orphanSettleMs;
    this.settling = true;
    try {
      for (;;) {
        const snapshot = tracker.scan(() => failpoint('settle-listed'));
        this.observe(snapshot);
        // The tree is still under its memory limit, and still sampled while anything of it is left.
        this.overMemoryLimit(snapshot);
        if (snapshot.alive.length > 0) this.record(snapshot);
        const empty = this.treeOver(snapshot, groups);
        if (empty || this.stop || this.settleCut || performance.now() >= end) return { snapshot, empty };
        await sleep(Math.min(SETTLE_POLL_MS, Math.max(1, end - performance.now())));
      }
    } finally {
      this.settling = false;
    }
  }

  /** The run's process groups, signalled and watched whole when there is no cgroup to do it (terminate/run-groups.ts). */
  private runGroups(): RunGroups | undefined {
    return this.tracker!.cgroupPath ? undefined : new RunGroups(this.cookie());
  }

  /**
   * Whether the tree is over: no live member, and also, with a cgroup, a cgroup the kernel says is
   * unpopulated, and without one, no process group of the run (`groups`) in use.
   */
  private treeOver(snapshot: TreeSnapshot, groups: RunGroups | undefined): boolean {
    if (snapshot.alive.length > 0) return false;
    const cgroup = this.tracker!.cgroupPath;
    return cgroup ? !cgroupPopulated(cgroup) : !groups!.live(this.tracker!.members());
  }

  /** Stops the run for `reason`; ignored once a stop or the orphans' termination is under way. */
  private requestStop(reason: StopReason): void {
    if (this.stop || this.terminating) return;
    // The command ended in time: only --orphans wait puts what it left under the wall-clock limit.
    if (reason.kind === 'timeout' && this.settling && this.config.orphans !== 'wait') return;
    this.stop = reason;
    const tree = this.tracker?.scan();
    if (tree) this.observe(tree);
    announceStop(reason, tree, { config: this.config, log: this.log, messages: this.messages, lastPssBytes: this.lastPssBytes });
    this.wake?.();
  }

  private onWrapperSignal(signal: NodeJS.Signals): void {
    if (CANCELLING_SIGNALS.has(signal)) {
      // `scidex-watchdog cancel` leaves who asked and why beside the marker before it signals.
      const request = takeCancelRequest(this.config.stateDir, this.log.identity.id, signal);
      if (this.settling && this.config.orphans === 'ignore') {
        // The command has ended and what it leaves is to be left: a cancel only cuts the window short.
        this.settleCut = true;
        this.messages.info(`${signal}${describeRequester(request)}: the command has ended; leaving what it left (--orphans ignore)`);
        return;
      }
      if (!this.terminating) return this.requestStop(request ? { kind: 'cancelled', signal, request } : schedulerStop(signal));
      if (this.stop) {
        this.messages.info(`${signal} again${describeRequester(request)}: skipping the rest of the grace period`);
        this.hurry.resolve();
        return;
      }
      // The orphans' termination is under way: this is the first cancel of the run.
      this.stop = { kind: 'cancelled', signal, request };
      this.log.event('cancel_requested', { reason: 'cancelled', signal, detail: cancelDetail(request) }, true);
    }
    // Forward to the members as last scanned: a scan here would take deaths the sequence reports.
    const alive = this.tracker?.members().filter((member) => member.alive) ?? [];
    const reached = alive.filter((member) => signalMember(member, signal) === 'sent');
    this.log.event('signal_forwarded', { signal, pids: reached.map((member) => member.pid), rss_bytes: this.treeRssBytes });
  }

  private async terminate(reason: string, firstSignal: NodeJS.Signals): Promise<void> {
    this.terminating = true;
    const result = await terminateTree(this.tracker!, {
      signal: firstSignal,
      graceMs: this.config.graceMs,
      hurry: this.hurry.promise,
      cookie: this.cookie(),
      beforeScan: () => this.reapAdopted(),
      hooks: recordTermination(this.log, reason, this.lastSignal, {
        leaderPid: this.leader?.pid,
        pssBytes: () => this.lastPssBytes,
        observe: (snapshot) => this.observe(snapshot),
        detail: (snapshot) => ({ processes: largestMembers(snapshot) }),
      }),
    });
    if (result.survivors.length > 0) {
      this.unkillable = true;
      this.messages.error(
        `could not kill ${result.survivors.length} processes (uninterruptible?): pids ${result.survivors.map((m) => m.pid).join(', ')}`,
      );
    }
    this.terminating = false;
  }

  private overMemoryLimit(snapshot: TreeSnapshot): boolean {
    const limit = this.config.memoryLimitBytes;
    if (limit === 0 || snapshot.rssBytes <= limit) return false;
    const pss = treePssBytes(snapshot);
    this.lastPssBytes = pss;
    this.lastPssAtMs = snapshot.atMs;
    this.peakPssBytes = Math.max(this.peakPssBytes ?? 0, pss);
    if (pss <= limit) return false;
    this.requestStop({ kind: 'memory', rssBytes: snapshot.rssBytes, pssBytes: pss });
    return true;
  }

  /**
   * Reaps the orphans the wrapper adopted (as subreaper, or as PID 1) that have exited: until then
   * they are zombies that keep their process group in use, and the tree would never look empty.
   */
  private reapAdopted(): void {
    if (this.tracker?.backend === 'subreaper' || process.pid === 1) reapAdoptedZombies(this.spawnedKeys());
  }

  private observe(snapshot: TreeSnapshot): void {
    this.reapAdopted();
    this.treeRssBytes = snapshot.rssBytes;
    this.peakRssBytes = Math.max(this.peakRssBytes, snapshot.rssBytes);
    this.peakProcessCount = Math.max(this.peakProcessCount, snapshot.alive.length);
  }

  /** The periodic records of a tick: a sample when one is due, a heartbeat (run row, shipped) when due. */
  private record(snapshot: TreeSnapshot): void {
    const { cpu_seconds } = this.progress();
    // A tick that meets the tree on its way out (its processes gone, or exiting with their memory
    // already dropped) would sample nothing: the run's memory over time ends with its last real sample.
    const exiting = snapshot.alive.length === 0 || snapshot.rssBytes === 0;
    const due = exiting ? undefined : this.sampler.tick({
      atMs: snapshot.atMs,
      rssBytes: snapshot.rssBytes,
      pssBytes: this.lastPssAtMs === snapshot.atMs ? this.lastPssBytes : null,
      cpuSeconds: cpu_seconds,
      processCount: snapshot.alive.length,
    });
    if (due) this.journalSample(due);
    const heartbeat = this.config.heartbeatIntervalMs;
    if (heartbeat > 0 && snapshot.atMs - this.lastHeartbeatMs >= heartbeat) {
      this.lastHeartbeatMs = snapshot.atMs;
      this.log.run(this.runningRow());
    }
  }

  private journalSample(due: DueSample): void {
    this.log.sample(due.atMs, {
      rss_bytes: due.rssBytes,
      pss_bytes: due.pssBytes,
      cpu_seconds: due.cpuSeconds,
      process_count: due.processCount,
      peak: due.peak,
    });
  }

  /**
   * A run too short for any scan to see its tree alive (`-- true`: its leader was already a zombie
   * at the first scan) still had one process at once. Its memory was never measured: a zombie has
   * none left, and getrusage(2)'s ru_maxrss of waited-for children mixes in the pre-exec child's.
   */
  private accountShortRun(): void {
    if (this.tracker!.members().length > 0) this.peakProcessCount = Math.max(this.peakProcessCount, 1);
  }

  /** The one sample of a run that ended before any was due: its figures over the whole run. */
  private wholeRunSample(): DueSample {
    return {
      atMs: Date.now(),
      rssBytes: this.peakRssBytes,
      pssBytes: this.peakPssBytes,
      cpuSeconds: this.progress().cpu_seconds,
      processCount: this.peakProcessCount,
      peak: true,
    };
  }

  /** The run row of a run still going: the identity, the progress so far, no outcome. */
  private runningRow(): RunProgress {
    const leaderPid = this.leader!.pid;
    const leader = this.tracker?.members().find((member) => member.foundBy === 'leader');
    return { ...this.progress(), pid: leaderPid, pgid: leaderPid, leader_starttime: leader?.starttime ?? readStat(leaderPid)?.starttime ?? null, ...NOT_ENDED };
  }

  private recordStart(): void {
    const leaderPid = this.leader!.pid;
    this.log.run(this.runningRow());
    const tracking = {
      backend: this.tracking.backend,
      probes: this.tracking.reports,
      memory_backstop_bytes: this.tracking.cgroup?.backstopBytes ?? null,
    };
    this.log.event('run_started', { pid: leaderPid, detail: { argv: this.log.identity.argv, tracking } }, true);
  }

  private finish(exit: LeaderExit): number {
    const tracker = this.tracker!;
    this.observe(tracker.scan());
    this.accountShortRun();
    const peak = this.sampler.flush();
    if (peak) this.journalSample(peak);
    else if (!this.sampler.anyTaken && this.config.sampleIntervalMs > 0) this.journalSample(this.wholeRunSample());
    const { status, exitStatus } = runOutcome(exit, this.stop, this.config.preserveStatus);
    const reason = this.stop ? this.runReasonText(this.stop) : null;
    this.log.processes(tracker.members(), (member) => fateOf(member, this.lastSignal));
    const leaderPid = this.leader!.pid;
    const record = {
      ...this.progress(),
      pid: leaderPid,
      pgid: leaderPid,
      leader_starttime: tracker.members().find((member) => member.foundBy === 'leader')?.starttime ?? null,
      ended_at: new Date().toISOString(),
      status,
      exit_status: exitStatus,
      exit_code: exit.code,
      signal: exit.signal,
      reason,
    };
    this.log.event(
      'run_finished',
      {
        reason,
        pid: leaderPid,
        signal: exit.signal,
        rss_bytes: this.peakRssBytes,
        pss_bytes: this.peakPssBytes,
        detail: { status, exit_status: exitStatus, exit_code: exit.code, command_status: leaderStatus(exit) },
      },
      true,
    );
    // The final version of the run row is the journal's last line: the protocol's end (docs/records.md).
    this.log.run(record);
    const pss = this.peakPssBytes === null ? '' : ` (PSS ${formatSize(this.peakPssBytes)})`;
    this.messages.info(
      `run ${this.log.identity.id} ${status}: exit status ${exitStatus} after ${formatDuration(this.log.elapsedMs())}; ` +
        `peak tree RSS ${this.peakRssBytes > 0 ? formatSize(this.peakRssBytes) : 'not measured (no scan saw the tree alive)'}${pss}, ` +
        `${record.peak_process_count} process${record.peak_process_count === 1 ? '' : 'es'} at once, ` +
        `${record.process_count} in all, CPU ${record.cpu_seconds.toFixed(1)}s`,
    );
    return exitStatus;
  }

  /** The run row's last version after an internal error, so that no run stays `running` for ever. */
  private recordInternalError(reason: string): void {
    const pid = this.leader?.pid ?? null;
    this.log.run({
      ...this.progress(),
      pid,
      pgid: pid,
      leader_starttime: this.tracker?.members().find((member) => member.foundBy === 'leader')?.starttime ?? null,
      ended_at: new Date().toISOString(),
      status: 'failed',
      exit_status: EXIT_INTERNAL,
      exit_code: null,
      signal: null,
      reason,
    });
  }

  private failedToStart(code: string | undefined, message: string): number {
    const exitStatus = spawnFailureStatus(code);
    this.log.event('failed_to_start', { reason: message, detail: { errno: code ?? null, exit_status: exitStatus } }, true);
    this.log.run({
      ...this.progress(),
      pid: null,
      pgid: null,
      leader_starttime: null,
      ended_at: new Date().toISOString(),
      status: 'failed_to_start',
      exit_status: exitStatus,
      exit_code: null,
      signal: null,
      reason: message,
    });
    this.messages.error(message);
    return exitStatus;
  }

  /** The run-row fields that summarise the tree so far. */
  private progress(): {
    peak_rss_bytes: number;
    peak_pss_bytes: number | null;
    cpu_seconds: number;
    peak_process_count: number;
    process_count: number;
  } {
    const members = this.tracker?.members() ?? [];
    const ticks = members.reduce((sum, member) => sum + member.cpuTicks, 0);
    return {
      peak_rss_bytes: this.peakRssBytes,
      peak_pss_bytes: this.peakPssBytes,
      cpu_seconds: ticks / CLOCK_TICKS_PER_SECOND,
      peak_process_count: this.peakProcessCount,
      process_count: members.length,
    };
  }

  private stopReasonText(stop: StopReason): string {
    return stop.kind === 'cancelled' ? 'cancelled' : stop.kind;
  }

  /**
   * The run row's reason: `cancelled: <reason>` for a cancel asked with --reason. Signal events keep
   * the bare stopReasonText, which reports (run-end.ts) match on.
   */
  private runReasonText(stop: StopReason): string {
    return stop.kind === 'cancelled' && stop.request?.reason ? `cancelled: ${stop.request.reason}` : this.stopReasonText(stop);
  }

  private firstSignal(stop: StopReason): NodeJS.Signals {
    return stop.kind === 'cancelled' || stop.kind === 'slurm_time_limit' ? stop.signal : this.config.killSignal.name;
  }
}

/**
 * A cancelling signal that came with no request of `scidex-watchdog cancel`: inside a Slurm job,
 * Slurm's SIGTERM for the job's time limit is a timeout (scontrol says which); anything else is a cancel.
 */
function schedulerStop(signal: NodeJS.Signals): StopReason {
  const jobId = slurmJob(process.env).slurm_job_id;
  if (jobId === null || signal !== 'SIGTERM') return { kind: 'cancelled', signal };
  const scontrol = () => execFileSync('scontrol', ['-o', 'show', 'job', jobId], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] });
  return endedForTimeLimit(scontrol) ? { kind: 'slurm_time_limit', signal, jobId } : { kind: 'cancelled', signal };
}
