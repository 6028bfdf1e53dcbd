/**
 * The termination sequence for a tracked tree (docs/design.md §5), systemd's KillMode=control-group
 * semantics:
 *   1. the first signal (SIGTERM by default) to every member, then SIGCONT: a stopped process
 *      would never act on the TERM, and resuming it first would let it fork before the TERM lands;
 *   2. the grace period, ending early when the tree is empty;
 *   3. freeze, so the set of members is closed: with a cgroup, cgroup.freeze; without, SIGSTOP every
 *      member and re-scan until a scan finds no member we have not stopped. Then SIGKILL them all
 *      (with a cgroup, cgroup.kill: one kernel operation for the whole subtree);
 *   4. repeat 3 until the tree is empty: a snapshot-then-kill pass alone misses what was forked
 *      during the pass (the GitHub runner's bug).
 * A cgroup control file the kernel refuses to write (cgroup-kill.ts) is reported through the hooks,
 * once per file, and its work done the way used without a cgroup, at once and on every later pass:
 * a refused cgroup.freeze by SIGSTOP to each member and re-scans, a refused cgroup.kill by SIGKILL
 * to each member (guard.ts checks each one's identity). Stopping the members one by one, rather
 * than skipping the freeze, keeps the scan that names who is killed closed to forks, which is what
 * the freeze was for; and it holds them still for the member kill, should cgroup.kill fail too.
 * Without a cgroup, each signal also goes to the run's process groups whole (run-groups.ts), and the
 * tree is empty only when they are too: a chain that forks and exits every few milliseconds is never
 * where a scan last saw it, but it stays in its group.
 * Zombies count as dead. A process in uninterruptible sleep can outlive SIGKILL for a while; after
 * UNKILLABLE_AFTER_MS of futile passes the survivors are reported instead of looping forever. That
 * bound is wall-clock time, checked inside a pass too (between the scans of a freeze): on a loaded
 * host a scan of a few hundred processes can take tens of milliseconds, and rounds counted alone
 * would let one pass run for many seconds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Member } from '../track/member.js';
import type { Tracker, TreeSnapshot } from '../track/tracker.js';
import { cgroupPopulated } from '../proc/cgroup.js';
import { CgroupWriteError, freezeCgroup, killCgroup, thawCgroup } from './cgroup-kill.js';
import { signalMember } from './guard.js';
import { RunGroups } from './run-groups.js';

const POLL_MS = 50;
const KILL_SETTLE_MS = 20;
const MAX_FREEZE_ROUNDS = 50;
const UNKILLABLE_AFTER_MS = 30_000;

/** Callbacks through which the sequence reports what it does; the caller turns them into records. */
export interface TerminationHooks {
  /** After each pass of the first signal or SIGKILL: the members it reached (not the ones already gone). */
  onSignal(signal: NodeJS.Signals, reached: Member[], snapshot: TreeSnapshot): void;
  /** For each member found gone or dead during the sequence. */
  onEnded(member: Member): void;
  /**
   * A cgroup control file the kernel refused to write (not because the cgroup is gone): once per
   * file per sequence. The sequence goes on member by member (see the module comment).
   */
  onKillFailed(error: CgroupWriteError): void;
}

export interface TerminationOptions {
  /** The first signal, usually SIGTERM. */
  signal: NodeJS.Signals;
  /** How long members get to exit after the first signal, milliseconds. */
  graceMs: number;
  hooks: TerminationHooks;
  /** When it resolves, the rest of the grace period is skipped (a second Ctrl-C). */
  hurry?: Promise<unknown>;
  /** The run's environment entry, `SCIDEX_RUN_ID=<uuid>`: with it, the run's process groups are signalled whole too. */
  cookie?: string;
  /** The run's user (uid): only its processes carrying the cookie count as the run's (run-groups.ts); undefined: any user's. */
  runUser?: number;
  /**
   * Called before every scan: a subreaper reaps its adopted zombies here, so that a grace period
   * ends as soon as the tree is empty instead of when it runs out.
   */
  beforeScan?: () => void;
  /** Called with every scan the sequence takes (the supervisor's ticks of a grace period). */
  afterScan?: (snapshot: TreeSnapshot) => void;
  /**
   * Called before each sleep of the grace period: the first signal is out and nothing waits on the
   * caller until the next scan (the supervisor journals its held ticks here, tick-ring.ts). Never
   * called between two signals: with no grace period, not at all.
   */
  beforeGraceSleep?: () => void;
}

/** How the sequence ended. */
export interface TerminationResult {
  /** Members that received SIGKILL. */
  killed: number;
  /** Members still alive when the sequence gave up (should be empty). */
  survivors: Member[];
}

/**
 * Runs the sequence until the tree is empty or the survivors are unkillable.
 * Never throws for processes that vanish; throws only UnsafePidError (a bug).
 */
export async function terminateTree(tracker: Tracker, options: TerminationOptions): Promise<TerminationResult> {
  const scan = (): TreeSnapshot => {
    options.beforeScan?.();
    const snapshot = tracker.scan();
    options.afterScan?.(snapshot);
    for (const member of snapshot.died) options.hooks.onEnded(member);
    return snapshot;
  };
  const send = (targets: Member[], signal: NodeJS.Signals, snapshot: TreeSnapshot): void => {
    const reached = targets.filter((member) => signalMember(member, signal) === 'sent');
    options.hooks.onSignal(signal, reached, snapshot);
  };

  const cgroup = tracker.cgroupPath;
  const groups = !cgroup && options.cookie ? new RunGroups(options.cookie, options.runUser) : undefined;
  const signalGroups = (signal: NodeJS.Signals): number => groups?.signal(tracker.members(), signal) ?? 0;
  const groupsLive = (): boolean => groups?.live(tracker.members()) ?? false;
  // With a cgroup, the kernel's word on emptiness counts too: a process the scan could not read is still in it.
  // Without, so do the run's groups: a process hopping between forks is in one even when no scan sees it.
  const empty = (snapshot: TreeSnapshot): boolean => snapshot.alive.length === 0 && !(cgroup && cgroupPopulated(cgroup)) && !groupsLive();
  let snapshot = scan();
  if (empty(snapshot)) return { killed: 0, survivors: [] };
  send(snapshot.alive, options.signal, snapshot);
  signalGroups(options.signal);
  if (options.signal !== 'SIGKILL') {
    for (const member of snapshot.alive) signalMember(member, 'SIGCONT');
    signalGroups('SIGCONT');
  }

  let hurried = false;
  const hurry = options.hurry ?? new Promise<never>(() => undefined);
  void hurry.then(() => (hurried = true));
  const graceEnd = performance.now() + options.graceMs;
  while (!hurried && performance.now() < graceEnd) {
    options.beforeGraceSleep?.();
    await Promise.race([sleep(Math.min(POLL_MS, Math.max(1, graceEnd - performance.now()))), hurry]);
    snapshot = scan();
    if (empty(snapshot)) return { killed: 0, survivors: [] };
  }

  // The control files the kernel refused to write this sequence: each reported once, then not tried again.
  const refused = new Set<string>();
  /** Runs `write` on the cgroup; false when there is none, or its file was refused (now or before). */
  const wholeCgroup = async (file: string, write: (path: string) => unknown): Promise<boolean> => {
    if (!cgroup || refused.has(file)) return false;
    try {
      await write(cgroup);
      return true;
    } catch (error) {
      if (!(error instanceof CgroupWriteError)) throw error;
      refused.add(file);
      options.hooks.onKillFailed(error);
      return false;
    }
  };

  const killed = new Set<Member>();
  const giveUpAt = performance.now() + UNKILLABLE_AFTER_MS;
  try {
    for (;;) {
      if (await wholeCgroup('cgroup.freeze', freezeCgroup)) snapshot = scan();
      else {
        // Stopped whole first, so that the scans of the freeze find the hoppers where they stand.
        signalGroups('SIGSTOP');
        snapshot = freeze(scan, giveUpAt);
      }
      // What the groups held is counted by this SIGKILL, not by groupsLive(): their dead stay in them until reaped.
      const inGroups = signalGroups('SIGKILL');
      if (snapshot.alive.length === 0 && inGroups === 0 && !(cgroup && cgroupPopulated(cgroup))) break;
      if (await wholeCgroup('cgroup.kill', killCgroup)) options.hooks.onSignal('SIGKILL', snapshot.alive, snapshot);
      else send(snapshot.alive, 'SIGKILL', snapshot);
      for (const member of snapshot.alive) killed.add(member);
      await sleep(KILL_SETTLE_MS);
      snapshot = scan();
      if (empty(snapshot)) break;
      if (performance.now() > giveUpAt) return { killed: killed.size, survivors: snapshot.alive };
    }
  } finally {
    await wholeCgroup('cgroup.freeze', thawCgroup);
  }
  return { killed: killed.size, survivors: [] };
}

/**
 * Stops every member until a scan finds none that was not stopped, for MAX_FREEZE_ROUNDS scans at most
 * and never past `giveUpAt` (performance.now() milliseconds); returns the last scan.
 */
function freeze(scan: () => TreeSnapshot, giveUpAt: number): TreeSnapshot {
  const stopped = new Set<Member>();
  let snapshot = scan();
  for (let round = 0; round < MAX_FREEZE_ROUNDS && performance.now() < giveUpAt; round++) {
    const fresh = snapshot.alive.filter((member) => !stopped.has(member));
    if (fresh.length === 0) break;
    for (const member of fresh) {
      signalMember(member, 'SIGSTOP');
      stopped.add(member);
    }
    snapshot = scan();
  }
  return snapshot;
}
