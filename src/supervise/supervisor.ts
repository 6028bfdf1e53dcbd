/**
 * One run's life, and the only state machine of the product. Its phase is one value:
 *
 *   starting -> running (the leader alive: ticks track, peak, check memory)
 *            -> settling (the leader exited; what leaves by itself now is not an orphan)
 *            -> orphans (--orphans acts on what stayed: ignore | wait | kill)
 *            -> ending (records) -> finished
 *   running, settling (--orphans wait only for a timeout), orphans, ending
 *            -> terminating (a limit or a cancel: the termination sequence) -> ending
 *   settling -> settle-cut: a cancel under --orphans ignore ends the window and leaves the rest
 *   running, settling, orphans (an adopted run, `scidex-watchdog release`) -> ending: released, nothing signalled
 *
 * An adopted run (`scidex-watchdog adopt`, docs/design.md §11) goes through the same phases: its leader
 * is handed over (a pidfd on a process started elsewhere) instead of spawned, and its end is how
 * much of it the kernel tells (exit-status.ts adoptedOutcome).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunConfig } from '../config/run-config.js';
import { formatDuration } from '../config/duration.js';
import { EXIT_INTERNAL, exitStatusOfSignal } from '../config/exit-codes.js';
import { readStat } from '../proc/stat.js';
import { cancelDetail, describeRequester, HOST_PRESSURE_MAX_GRACE_MS, requesterName, takeCancelRequest, type CancelRequest } from '../record/cancel-request.js';
import { NOT_ENDED, type RunLog, type RunProgress } from '../record/run-log.js';
import { fateOf, recordKillFailure, recordTermination } from '../record/termination-records.js';
import { failpoint } from '../sys/failpoint.js';
import { signalMember, signalsUsePidfd } from '../terminate/guard.js';
import { terminateTree } from '../terminate/sequence.js';
import { memberKey, type Member } from '../track/member.js';
import { memoryBackstopOf, openTracker, removeRunCgroups, runOomCounts, spawnCgroups, type TrackingSetup } from '../track/select.js';
import type { Tracker, TreeSnapshot } from '../track/tracker.js';
import { reapAdoptedZombies } from './adopted.js';
import { announceKernelOom, announceStop } from './announce.js';
import { deferred } from './deferred.js';
import { firstSignalOf, graceOf, isBreach, leaderStatus, runOutcome, runReasonText, spawnFailureStatus, stopReasonText, type LeaderExit, type StopReason } from './exit-status.js';
import { CANCELLING_SIGNALS, onWrapperSignals, schedulerStop } from './forward.js';
import { recordOrphansFound, TreeEnd } from './orphans.js';
import { nextPollDelay } from './poll.js';
import { recordAdoptedEnd, recordReleased, recordRunEnd, type EndContext, type RunEnding } from './run-end.js';
import { RunFigures } from './run-figures.js';
import { spawnLeader, type Leader } from './spawn.js';
import type { AdoptedLeader } from './adopted-leader.js';
import { takeReleaseRequest, type ReleaseRequest } from '../record/cancel-request.js';
import { giveBack, leadership } from '../track/adopt-tree.js';
import { armDeadline, Waker } from './timers.js';
import { largestMembers } from './tree-memory.js';

/** How long to wait for the leader's exit after a sequence that could not kill everything. */
const LEADER_EXIT_WAIT_MS = 5000;
/** How long a leader's death by a cancelling signal waits for the wrapper's own copy of it, milliseconds. */
const COMPANION_SIGNAL_MS = 200;
const COMPANION_POLL_MS = 5;
/** How long a run lives before the FFI for pidfds is loaded ahead of any kill, milliseconds. */
const PRELOAD_FFI_AFTER_MS = 250;
/**
 * Scan interval of the settle window, milliseconds: a helper that leaves 10-15 ms after the leader
 * is seen gone within a few ms of it, and a chain that hops every few ms is seen by some scan.
 */
const SETTLE_POLL_MS = 5;

type Phase = 'starting' | 'running' | 'settling' | 'settle-cut' | 'orphans' | 'terminating' | 'ending' | 'finished';

/** Where the supervisor's one-line messages go; `info` is silenced by --quiet, `error` never. */
export interface Messages {
  info(line: string): void;
  error(line: string): void;
}

/** What makes a run an adopted one (`scidex-watchdog adopt`, supervise/adopt.ts). */
export interface Adoption {
  /** The process adopted, held by pidfd; its end is watched there. */
  leader: AdoptedLeader;
  /** How much of the timeout is spent already (its age, under --since-start; else 0), milliseconds. */
  spentMs: number;
  /** The process's age when adopted, milliseconds. */
  ageMs: number;
  /**
   * Called once the tree is tracked and run_started journaled: the supervision is in place.
   * @returns whether the requester heard it (false: it gave up, and the run is released at once)
   */
  onStarted(): boolean;
}

export class Supervisor {
  private phase: Phase = 'starting';
  /** A release of an adopted run (`scidex-watchdog release`): the supervision ends, nothing is signalled. */
  private released: ReleaseRequest | undefined;
  private tracker: Tracker | undefined;
  private leader: Leader | undefined;
  /** The leader's starttime (proc(5) stat field 22), read right after the spawn. */
  private leaderStarttime: number | undefined;
  private stop: StopReason | undefined;
  /** The monitor's sleep between ticks, ended early by the leader's exit or a stop. */
  private readonly waker = new Waker();
  private readonly hurry = deferred();
  /** A termination sequence left survivors (uninterruptible sleep, or not ours to signal). */
  private survivorsLeft = false;
  private readonly lastSignal = new Map<Member, NodeJS.Signals>();
  private readonly figures: RunFigures;
  /** A kernel OOM kill was seen in the run's memory cgroup (and recorded): its counters are not read again. */
  private kernelOomSeen = false;

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
    private readonly adoption?: Adoption,
  ) {
    this.figures = new RunFigures(config, log, () => this.tracker?.members() ?? []);
  }

  /**
   * Runs the command to the end and returns scidex-run's exit status (docs/design.md §2).
   * The wrapper's signal handlers are installed for the duration of the call.
   */
  async run(env: NodeJS.ProcessEnv): Promise<number> {
    onWrapperSignals((signal) => this.guarded(() => this.onWrapperSignal(signal)));
    let disarm = (): void => undefined;
    try {
      const adopted = this.adoption?.leader;
      const cgroups = adopted ? undefined : spawnCgroups(this.tracking);
      const spawned = adopted ?? (await spawnLeader(this.config.command, env, cgroups));
      // Said as --quiet would silence a warning: the run goes on, only without the backstop.
      if (cgroups?.skipped) this.messages.info(`warning: no kernel memory backstop for this run: ${cgroups.skipped}`);
      if (!('pid' in spawned)) return this.failedToStart(spawned.code, spawned.message);
      this.leader = spawned;
      // Still before any libuv callback: the leader is alive or an unreaped zombie, so its stat is
      // there and the first scan knows its starttime. An adopted one's was checked through its pidfd.
      this.leaderStarttime = adopted ? adopted.starttime : readStat(spawned.pid)?.starttime;
      this.tracker = openTracker(this.tracking, {
        leaderPid: spawned.pid,
        // An adopted tree was started without the cookie: it is tracked by the leader's identity and ancestry.
        cookie: adopted ? undefined : this.cookie(),
        minStarttime: adopted ? adopted.starttime : this.log.identity.wrapper_starttime,
        excluded: new Set([memberKey(process.pid, this.log.identity.wrapper_starttime), ...this.helperKeys()]),
        adopted: adopted ? { leaderStarttime: adopted.starttime, ...leadership(adopted.stat) } : undefined,
      });
      this.observe(this.tracker.scan());
      const backstop = memoryBackstopOf(this.tracking);
      const tracking = { backend: this.tracking.backend, probes: this.tracking.reports, memory_backstop_bytes: backstop?.bytes ?? null, memory_backstop: backstop };
      const adoptedDetail = adopted ? { adopted: adoptionDetail(adopted, this.adoption!) } : {};
      this.log.together(() => {
        this.log.run(this.row());
        this.log.event('run_started', { pid: spawned.pid, detail: { argv: this.log.identity.argv, tracking, ...adoptedDetail } }, true);
      });
      if (this.adoption && !this.adoption.onStarted()) {
        // The requester gave up waiting (its caller was told the process is not adopted): a
        // supervision nobody knows of would stop a process its caller still thinks its own.
        const requestedBy = `${requesterName()} (the adopting supervisor itself)`;
        const reason = 'the adopt request was given up before the supervision was in place: its requester was gone';
        this.guarded(() => this.releaseIfAsked({ signal: 'SIGUSR1', reason, requested_by: requestedBy, requested_at: new Date().toISOString(), request_id: null }));
      }
      // A release whose SIGUSR1 came before our handlers (the supervisor ignores it until then) is taken now.
      if (adopted) this.guarded(() => this.releaseIfAsked(takeReleaseRequest(this.config.stateDir, this.log.identity.id)));
      // koffi takes 15-25 ms to load: a run that lives a while pays it before its first kill, and a
      // short one (`-- true`, a job array's one-second task) never pays it at all.
      setTimeout(() => this.guarded(() => void signalsUsePidfd()), PRELOAD_FFI_AFTER_MS).unref();
      disarm = armDeadline(this.timeLeftMs(), () => this.guarded(() => this.requestStop({ kind: 'timeout' })));
      void spawned.exited.then(() => this.waker.wake());

      this.phase = 'running';
      await this.monitor(true, () => false);
      // Before the companion signal's wait: a leader the kernel's OOM killer took died of SIGKILL, no cancel.
      if (!this.halted()) this.checkKernelOom(await spawned.exited);
      if (!this.halted() && !adopted) await this.awaitCompanionSignal(await spawned.exited);
      if (!this.halted()) await this.handleOrphans();
      if (this.released) return this.finishReleased();
      if (this.stop) await this.terminate(stopReasonText(this.stop), firstSignalOf(this.stop, this.config.killSignal.name));
      return this.finish(await this.leaderExit(spawned));
    } catch (error) {
      const message = `internal error: ${(error as Error).message}`;
      if (this.released) {
        // Released (journaled already): the tree is no run's any more, so nothing of it is signalled,
        // whatever failed; it goes back to its cgroup (giveBack never throws) and the row ends released.
        this.messages.error(`${message}; the run was released: nothing is signalled`);
        if (this.tracking.cgroup) giveBack(this.tracking.cgroup);
        this.log.run(this.row({ ended_at: new Date().toISOString(), status: 'released', exit_status: null, exit_code: null, signal: null, reason: `released; ${message}` }));
        return EXIT_INTERNAL;
      }
      this.messages.error(`${message}; killing the run`);
      if (this.tracker) await this.terminate('internal_error', 'SIGKILL').catch(() => undefined);
      this.log.run(this.row({ ended_at: new Date().toISOString(), status: 'failed', exit_status: this.internalErrorStatus(), exit_code: null, signal: null, reason: message }));
      return EXIT_INTERNAL;
    } finally {
      disarm();
      this.phase = 'finished';
      this.adoption?.leader.close();
      if (this.tracker) this.tracker.release();
      removeRunCgroups(this.tracking);
    }
  }

  /**
   * The run row's exit_status after an internal error: scidex-run's own 125 for a spawned run; for an
   * adopted one, whose status is the process's (docs/records.md), 128 + the last signal of ours its
   * leader received, or null when it received none (we did not start it: 125 would be no status of its).
   */
  private internalErrorStatus(): number | null {
    if (!this.adoption) return EXIT_INTERNAL;
    const leader = this.tracker?.members().find((member) => member.foundBy === 'leader');
    const killedWith = leader ? this.lastSignal.get(leader) : undefined;
    return killedWith ? exitStatusOfSignal(killedWith) : null;
  }

  /** The timeout still to run at the start: all of it, less what an adopted process had used under --since-start (at least 1 ms); 0 for none. */
  private timeLeftMs(): number {
    const { timeoutMs } = this.config;
    if (timeoutMs === 0 || !this.adoption) return timeoutMs;
    return Math.max(1, timeoutMs - this.adoption.spentMs);
  }

  /** Whether the run is being stopped or released: the monitor and the settle window end. */
  private halted(): boolean {
    return this.stop !== undefined || this.released !== undefined;
  }

  /** The run's environment entry, `SCIDEX_RUN_ID=<uuid>`: the cookie its processes carry. */
  private cookie(): string {
    return `SCIDEX_RUN_ID=${this.log.identity.id}`;
  }

  /** Children of ours that libuv waits for: never reaped by us, never members. */
  private helperKeys(): string[] {
    return this.helpers.map((helper) => memberKey(helper.pid, helper.starttime));
  }

  /**
   * The leader's exit. After a termination sequence that left survivors (a leader stuck in
   * uninterruptible sleep, or one we may not signal) it may never come: then we stop waiting.
   */
  private async leaderExit(leader: Leader): Promise<LeaderExit> {
    if (!this.survivorsLeft) return leader.exited;
    const gaveUp: LeaderExit = { code: EXIT_INTERNAL, signal: null };
    return Promise.race([leader.exited, sleep(LEADER_EXIT_WAIT_MS).then(() => gaveUp)]);
  }

  /** Runs a callback of a timer or signal handler; what it throws is reported, never fatal. */
  private guarded(callback: () => void): void {
    if (this.phase === 'finished') return;
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
    while (!exited && !this.halted()) {
      await this.waker.sleep(delay);
      if (exited || this.halted()) break;
      const snapshot = tracker.scan();
      const over = this.tick(snapshot);
      if (until(snapshot) || over) break;
      const { pollMinMs: minMs, pollMaxMs: maxMs, memoryLimitBytes: limitBytes } = this.config;
      const elapsedMs = snapshot.atMs - previous.atMs;
      delay = nextPollDelay({ minMs, maxMs, previousMs: delay, limitBytes, rssBytes: snapshot.rssBytes, previousRssBytes: previous.rssBytes, elapsedMs });
      previous = snapshot;
    }
  }

  /** One tick's work on a scan: the figures, the memory limit, the periodic records. @returns whether the tree is over its memory limit */
  private tick(snapshot: TreeSnapshot): boolean {
    this.observe(snapshot);
    const over = this.figures.overMemoryLimit(snapshot);
    if (over) this.requestStop({ kind: 'memory', ...over });
    else this.checkKernelOom();
    this.figures.tick(snapshot, () => this.row());
    return over !== undefined;
  }

  /**
   * Reads the kernel's OOM counters of the run's memory cgroup (the v1 one, or the v2 run cgroup
   * with the memory controller): at each scan, at the leader's exit and at the end. A kill in them
   * (oom_kill, oom_group_kill; where the kernel counts no oom_kill, v1 before Linux 4.13, a failcnt
   * with a leader dead of a SIGKILL not ours) stops the run as `kernel_oom`: the tree's rest is
   * ended by the termination sequence (v1's OOM killer kills one process, not the group) and the
   * run is out_of_memory, 137. Under a stop already decided it is only recorded.
   * @param leaderExit the leader's exit, once it has exited
   */
  private checkKernelOom(leaderExit?: LeaderExit): void {
    const oom = this.kernelOom(leaderExit);
    if (!oom) return;
    if (!this.stop && this.phase !== 'terminating') return this.requestStop(oom);
    // A limit crossed still, whatever the stop under way (a cancel, the orphans') is: the ticks are journaled.
    this.figures.breach();
    announceKernelOom(oom, undefined, this.announceContext(), `the run is already being stopped for ${this.stop ? stopReasonText(this.stop) : 'orphans'}`);
  }

  /** The kernel_oom stop when the run's memory cgroup shows a kernel OOM kill not seen before, else undefined. */
  private kernelOom(leaderExit?: LeaderExit): Extract<StopReason, { kind: 'kernel_oom' }> | undefined {
    if (this.kernelOomSeen) return undefined;
    const counts = runOomCounts(this.tracking);
    if (!counts) return undefined;
    const leaderKilled = leaderExit?.signal === 'SIGKILL' && !this.signalledLeader('SIGKILL');
    const killed = (counts.oomKill ?? 0) > 0 || (counts.oomGroupKill ?? 0) > 0 || (counts.oomKill === null && (counts.failcnt ?? 0) > 0 && leaderKilled);
    if (!killed) return undefined;
    this.kernelOomSeen = true;
    return { kind: 'kernel_oom', counts, victimPid: leaderKilled ? this.leader!.pid : null, backstopBytes: memoryBackstopOf(this.tracking)?.bytes ?? null };
  }

  /** Whether a signal of ours (`signal`) reached the leader. */
  private signalledLeader(signal: NodeJS.Signals): boolean {
    for (const [member, sent] of this.lastSignal) if (member.pid === this.leader?.pid && member.starttime === this.leaderStarttime && sent === signal) return true;
    return false;
  }

  private announceContext() {
    return { config: this.config, log: this.log, messages: this.messages, lastPssBytes: this.figures.lastPssBytes };
  }

  /**
   * The leader died of a cancelling signal. A scheduler ending a job signals every process of it at
   * once (slurmstepd), and the wrapper's own copy may reach it a moment after the leader's exit.
   * Waits up to COMPANION_SIGNAL_MS for that signal, so that the run is recorded as the cancel (or
   * time limit) it is, not as a command that failed.
   */
  private async awaitCompanionSignal(exit: LeaderExit): Promise<void> {
    if (!exit.signal || !CANCELLING_SIGNALS.has(exit.signal)) return;
    const end = performance.now() + COMPANION_SIGNAL_MS;
    while (!this.stop && performance.now() < end) await sleep(COMPANION_POLL_MS);
  }

  /**
   * The leader has exited by itself. What exits by itself within the settle window (--orphan-settle)
   * is not an orphan (fate `exited`, no event, no signal); whatever of the tree is still alive after
   * it is. The window scans every SETTLE_POLL_MS until the tree is over, a stop is requested, a
   * cancel cuts it, or it is out; the many scans also find a chain that forks and exits faster than
   * one scan: one sight of any hop, by its cookie, names its group.
   */
  private async handleOrphans(): Promise<void> {
    const tracker = this.tracker!;
    const end = new TreeEnd(tracker, this.cookie(), process.getuid?.());
    const windowEnd = performance.now() + this.config.orphanSettleMs;
    this.phase = 'settling';
    let snapshot: TreeSnapshot;
    let over: boolean;
    for (;;) {
      snapshot = tracker.scan(() => failpoint('settle-listed'));
      // The tree is still under its memory limit, and still sampled while anything of it is left.
      this.tick(snapshot);
      over = end.over(snapshot);
      if (over || this.halted() || this.phase !== 'settling' || performance.now() >= windowEnd) break;
      await sleep(Math.min(SETTLE_POLL_MS, Math.max(1, windowEnd - performance.now())));
    }
    let held = { snapshot, resume: (): void => undefined };
    // Still settling while the tree is held for its last scan (a freeze may take 500 ms): the command
    // ended in time, so a timeout now is no stop, and a cancel under --orphans ignore still only cuts.
    if (!over && !this.halted()) held = await end.heldScan(snapshot, (error) => recordKillFailure(this.log, 'orphans', error));
    this.phase = 'orphans';
    // Released: what the held scan stopped goes on at once, and nothing more is done to it.
    if (this.released) return held.resume();
    // A stop during the held scan: the termination sequence's SIGCONT resumes what the scan stopped.
    if (over || this.stop) return;
    this.observe(held.snapshot);
    if (held.snapshot.alive.length === 0) return held.resume();
    const { count, pids } = recordOrphansFound(this.log, held.snapshot, this.config.orphans);
    switch (this.config.orphans) {
      case 'ignore':
        held.resume();
        this.messages.info(`orphans: ${count} outlived the command and are left running (--orphans ignore): ${pids}`);
        return;
      case 'wait':
        held.resume();
        this.messages.info(`orphans: waiting for ${count} that outlived the command (--orphans wait): ${pids}`);
        await this.monitor(false, (next) => end.over(next));
        return;
      case 'kill':
        this.messages.info(`orphans: ${count} outlived the command (${pids}); sending ${this.config.killSignal.name}, SIGKILL after ${formatDuration(this.config.graceMs)}`);
        if (!this.halted()) await this.terminate('orphans', this.config.killSignal.name);
    }
  }

  /** The leader has exited by itself and what it left is being settled or handled (not yet terminated). */
  private commandEnded(): boolean {
    return this.phase === 'settling' || this.phase === 'settle-cut' || this.phase === 'orphans';
  }

  /** Stops the run for `reason`; ignored once a stop or a termination sequence is under way. */
  private requestStop(reason: StopReason): void {
    if (this.stop || this.released || this.phase === 'terminating') return;
    // The command ended in time: only --orphans wait puts what it left under the wall-clock limit.
    if (reason.kind === 'timeout' && this.commandEnded() && this.config.orphans !== 'wait') return;
    this.stop = reason;
    const tree = this.tracker?.scan();
    if (tree) this.observe(tree);
    if (isBreach(reason)) this.figures.breach();
    announceStop(reason, tree, this.announceContext());
    // Where a test kills a wrapper whose stop is journaled and nothing signalled yet.
    failpoint('stop-journaled');
    this.waker.wake();
  }

  private onWrapperSignal(signal: NodeJS.Signals): void {
    if (this.adoption && !CANCELLING_SIGNALS.has(signal)) return this.onAdopterSignal(signal);
    if (this.released) return;
    if (CANCELLING_SIGNALS.has(signal)) {
      // `scidex-watchdog cancel` leaves who asked and why beside the marker before it signals.
      const request = takeCancelRequest(this.config.stateDir, this.log.identity.id, signal);
      // Where a test stops a wrapper that took the guard's request and never acts on it (the daemon then ends the run itself).
      if (request?.host_pressure) failpoint('pressure-request-taken');
      if (this.commandEnded() && this.config.orphans === 'ignore') {
        // The command has ended and what it leaves is to be left: a cancel only cuts the window short.
        if (this.phase === 'settling') this.phase = 'settle-cut';
        this.messages.info(`${signal}${describeRequester(request)}: the command has ended; leaving what it left (--orphans ignore)`);
        return;
      }
      if (this.phase !== 'terminating') return this.requestStop(request ? this.stopAsked(signal, request) : schedulerStop(signal));
      if (this.stop) {
        const pressure = request?.host_pressure;
        if (pressure) {
          // The daemon reads this as the wrapper having acted; the ending stays the stop under way.
          // A limit crossed all the same (isBreach): the ticks are journaled, after the sequence.
          this.figures.breach();
          const detail = { ...pressure, requested_by: request!.requested_by, hurried: true };
          this.log.event('limit_exceeded', { reason: 'host_pressure', rss_bytes: this.figures.rssBytes, pss_bytes: pressure.run_pss_bytes, detail }, true);
        }
        const why = pressure ? `host memory pressure${describeRequester(request)}` : `${signal} again${describeRequester(request)}`;
        this.messages.info(`${why}: skipping the rest of the grace period`);
        this.hurry.resolve();
        return;
      }
      // The orphans' termination is under way: this is the first cancel of the run.
      const stop: StopReason = request ? this.stopAsked(signal, request) : { kind: 'cancelled', signal };
      this.stop = stop;
      if (stop.kind === 'host_pressure') {
        // The host needs the memory now: the leftovers get no more grace. A breach (isBreach), where the orphans' termination was none.
        this.figures.breach();
        announceStop(stop, undefined, { config: this.config, log: this.log, messages: this.messages, lastPssBytes: this.figures.lastPssBytes });
        this.hurry.resolve();
        return;
      }
      this.log.event('cancel_requested', { reason: 'cancelled', signal, detail: cancelDetail(request) }, true);
    }
    // Forward to the members as last scanned: a scan here would take deaths the sequence reports.
    const alive = this.tracker?.members().filter((member) => member.alive) ?? [];
    const reached = alive.filter((member) => signalMember(member, signal) === 'sent');
    this.log.event('signal_forwarded', { signal, pids: reached.map((member) => member.pid), rss_bytes: this.figures.rssBytes });
  }

  /** The stop a cancelling signal with a request file means: the daemon's host-pressure stop, or a cancel. */
  private stopAsked(signal: NodeJS.Signals, request: CancelRequest): StopReason {
    const pressure = request.host_pressure;
    if (!pressure) return { kind: 'cancelled', signal, request };
    return { kind: 'host_pressure', pressure, graceMs: Math.min(pressure.grace_ms, HOST_PRESSURE_MAX_GRACE_MS, this.config.graceMs), request };
  }

  /**
   * A signal to an adopting supervisor other than a cancelling one. SIGUSR1 with a release request
   * beside the marker (`scidex-watchdog release`, from our own user or root) releases the run; the
   * rest is not forwarded: the adopted process has relations of its own, which signal it directly.
   */
  private onAdopterSignal(signal: NodeJS.Signals): void {
    const request = signal === 'SIGUSR1' ? takeReleaseRequest(this.config.stateDir, this.log.identity.id) : undefined;
    if (!request) {
      this.messages.info(`${signal} ignored: an adopting supervisor forwards no signal (release the run with scidex-watchdog release)`);
      return;
    }
    this.releaseIfAsked(request);
  }

  /** Releases the adopted run on `request` (module comment), or records why not; nothing without a request. */
  private releaseIfAsked(request: ReleaseRequest | undefined): void {
    if (!request || this.released) return;
    if (this.stop || this.phase === 'terminating') {
      this.messages.info(`release from ${request.requested_by} refused: the run is being stopped already (${this.stop ? stopReasonText(this.stop) : 'orphans'})`);
      this.log.event('released', { reason: 'refused', detail: { ...cancelDetail(request), refused: `the run is being stopped already (${this.stop ? stopReasonText(this.stop) : 'orphans'})` } }, true);
      return;
    }
    this.released = request;
    // Journaled at once: a reaper of a supervisor that dies from here on finds the release, and
    // signals nothing (watchdog/reap.ts).
    this.log.event('released', { reason: 'released', pid: this.leader?.pid ?? null, rss_bytes: this.figures.rssBytes, detail: cancelDetail(request) }, true);
    this.messages.info(`released${describeRequester(request)}: supervision ends, nothing is signalled`);
    this.waker.wake();
  }

  /** The end of a released run: its processes left running (moved back to their own cgroup), the run row `released`. */
  private finishReleased(): number {
    this.phase = 'ending';
    this.observe(this.tracker!.scan());
    this.figures.close();
    const stuck = this.tracking.cgroup ? giveBack(this.tracking.cgroup) : [];
    return recordReleased(this.endContext(), this.released!, stuck);
  }

  private async terminate(reason: string, firstSignal: NodeJS.Signals): Promise<void> {
    this.phase = 'terminating';
    const result = await terminateTree(this.tracker!, {
      signal: firstSignal,
      graceMs: graceOf(this.stop, this.config.graceMs),
      hurry: this.hurry.promise,
      cookie: this.cookie(),
      runUser: process.getuid?.(),
      beforeScan: () => this.reapAdopted(),
      // Every scan of the sequence is a tick of the post-mortem (tick-ring.ts), journaled after a
      // breach while the sequence sleeps out its grace period, or after it: never before a signal.
      afterScan: (snapshot) => this.figures.observe(snapshot),
      beforeGraceSleep: () => this.figures.flushTicks(),
      hooks: recordTermination(this.log, reason, this.lastSignal, {
        leaderPid: this.leader?.pid,
        pssBytes: () => this.figures.lastPssBytes,
        observe: (snapshot) => this.observe(snapshot),
        detail: (snapshot) => ({ processes: largestMembers(snapshot) }),
      }),
    });
    this.figures.flushTicks();
    if (result.survivors.length > 0) {
      this.survivorsLeft = true;
      this.messages.error(`could not kill ${result.survivors.length} processes (uninterruptible?): pids ${result.survivors.map((m) => m.pid).join(', ')}`);
    }
    this.phase = 'ending';
  }

  /**
   * Reaps the orphans the wrapper adopted (as subreaper, or as PID 1) that have exited: until then
   * they are zombies that keep their process group in use, and the tree would never look empty.
   * Never the children libuv waits for (the leader by its identity at the spawn, the helpers): one
   * reaped here would never reach libuv, and the run would wait for its exit for ever.
   */
  private reapAdopted(): void {
    if (this.tracker?.backend !== 'subreaper' && process.pid !== 1) return;
    const leader = this.leader && this.leaderStarttime !== undefined ? [memberKey(this.leader.pid, this.leaderStarttime)] : [];
    reapAdoptedZombies(new Set([...leader, ...this.helperKeys()]));
  }

  private observe(snapshot: TreeSnapshot): void {
    this.reapAdopted();
    this.figures.observe(snapshot);
  }

  /** The run row: the one place it is built, from the tree's figures, the leader and `ending`. */
  private row(ending: RunEnding = NOT_ENDED): RunProgress {
    const pid = this.leader?.pid ?? null;
    // A spawned leader leads its group; an adopted one is in whatever group it was put.
    const pgid = this.adoption ? this.adoption.leader.stat.pgid : pid;
    return { ...this.figures.progress(), pid, pgid, leader_starttime: this.leaderStarttime ?? null, ...ending };
  }

  private finish(exit: LeaderExit): number {
    this.phase = 'ending';
    const tree = this.tracker!.scan();
    this.observe(tree);
    // A kernel OOM kill no scan saw before the end (the tree was gone at once) still names the ending.
    const oom = this.kernelOom(exit);
    if (oom) this.figures.breach();
    if (oom && !this.stop) {
      this.stop = oom;
      const left = tree.alive.length;
      announceKernelOom(oom, tree, this.announceContext(), left === 0 ? 'nothing of the tree is left' : `${left} processes are left as they are`);
    } else if (oom) {
      announceKernelOom(oom, tree, this.announceContext(), `the run was already being stopped for ${stopReasonText(this.stop!)}`);
    }
    this.figures.close();
    if (this.adoption) return recordAdoptedEnd(this.endContext(), exit, this.stop);
    const { status, exitStatus } = runOutcome(exit, this.stop, this.config.preserveStatus);
    // The command the kernel's OOM killer took died of its SIGKILL: killed, as by ours.
    const victim = this.stop?.kind === 'kernel_oom' ? this.stop.victimPid : null;
    const killedByKernel = (member: Member) => !member.alive && member.pid === victim && member.starttime === this.leaderStarttime;
    recordRunEnd(
      this.endContext(),
      { status, exit_status: exitStatus, exit_code: exit.code, signal: exit.signal, reason: this.stop ? runReasonText(this.stop) : null },
      { status, exit_status: exitStatus, exit_code: exit.code, command_status: leaderStatus(exit) },
      (member) => (killedByKernel(member) ? 'killed' : fateOf(member, this.lastSignal)),
    );
    return exitStatus;
  }

  /** What the last records are written from (run-end.ts). */
  private endContext(): EndContext {
    const { peakRssBytes, peakPssBytes } = this.figures;
    return {
      log: this.log,
      info: (line) => this.messages.info(line),
      members: this.tracker!.members(),
      lastSignal: this.lastSignal,
      leaderPid: this.leader!.pid,
      peakRssBytes,
      peakPssBytes,
      row: (ending) => this.row(ending),
    };
  }

  private failedToStart(code: string | undefined, message: string): number {
    const exitStatus = spawnFailureStatus(code);
    this.log.together(() => {
      this.log.event('failed_to_start', { reason: message, detail: { errno: code ?? null, exit_status: exitStatus } }, true);
      this.log.run(this.row({ ended_at: new Date().toISOString(), status: 'failed_to_start', exit_status: exitStatus, exit_code: null, signal: null, reason: message }));
    });
    this.messages.error(message);
    return exitStatus;
  }
}

/** What run_started records of an adopted leader: who it is, and from when its timeout counts. */
function adoptionDetail(leader: AdoptedLeader, { spentMs, ageMs }: Adoption): Record<string, unknown> {
  return {
    pid: leader.pid,
    starttime: leader.starttime,
    ppid: leader.stat.ppid,
    pgid: leader.stat.pgid,
    sid: leader.stat.sid,
    identity: leader.pidfd ? 'pidfd' : 'starttime',
    timeout_counts_from: spentMs > 0 ? 'process_start' : 'adoption',
    age_ms_at_adoption: ageMs,
  };
}
