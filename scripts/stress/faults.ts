// The fault injector: while runs are in progress, a fault every `meanGapMs` on average (a Poisson
// process drawn from the seeded PRNG), its kind and target drawn too. The first faults cover every
// kind once, in a shuffled order, so even a short stress run sees each. Kinds:
//
//   server-stop   fast shutdown of PostgreSQL, started again after 0.3 to 3 s;
//   server-crash  immediate shutdown (as a crash: recovery at the next start), the same;
//   wrapper-kill  SIGKILL to a live wrapper (three times in four one past its start-up, whose run
//                 marker names it, else any), after checking by /proc that it is ours (the tag in
//                 its environ, the starttime we saw at spawn); through a pidfd;
//   ship, reap    a concurrent `scidex-watchdog ship` (sometimes with --wait) or `reap` on one of the
//                 shared state directories;
//   disk-fill     the full-disk tmpfs filled to ENOSPC, freed again after 0.3 to 3 s (only when mounted).
//
// Server faults do not overlap (one due while the server is down is skipped), nor do disk fills.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ThrowawayPostgres } from '../../test/helpers/throwaway-postgres.js';
import type { Processes } from './context.js';
import type { FullDisk } from './full-disk.js';
import type { Random } from './random.js';
import type { LiveRun, RunPool } from './runs.js';
import type { Watchdogs } from './watchdogs.js';

export const FAULT_KINDS = ['server-stop', 'server-crash', 'wrapper-kill', 'ship', 'reap', 'disk-fill'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** How often each kind is drawn after the first round, relative to the others. */
const WEIGHTS: Record<FaultKind, number> = { 'server-stop': 1, 'server-crash': 1, 'wrapper-kill': 3, ship: 2, reap: 2, 'disk-fill': 1 };

/** What the injector acts on. */
export interface FaultTargets {
  server: ThrowawayPostgres;
  pool: RunPool;
  procs: Processes;
  watchdogs: Watchdogs;
  /** Every state directory of the stress run, the full-disk one included. */
  stateDirs: readonly string[];
  disk?: FullDisk;
  log: (line: string) => void;
}

/** Counts of one kind. */
export interface FaultTally {
  injected: number;
  /** Due but not applicable then (no live wrapper, the server already down, ...). */
  skipped: number;
}

/** Sleeps `ms`, or less when `done` resolves first. @returns whether `done` resolved */
async function pause(ms: number, done: Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([elapsed, done.then(() => true)]);
  } finally {
    clearTimeout(timer);
  }
}

export class FaultInjector {
  readonly tally = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, { injected: 0, skipped: 0 }])) as Record<FaultKind, FaultTally>;
  /** One line per fault: `12.3 s server-stop: down 1.2 s`. */
  readonly timeline: string[] = [];
  /** Failures of the injector itself (a server that would not start again): they fail the stress run. */
  readonly errors: string[] = [];
  private server: Promise<void> | undefined;
  private disk: Promise<void> | undefined;
  private t0 = performance.now();

  constructor(
    private readonly targets: FaultTargets,
    private readonly random: Random,
    /** Mean time between two faults, ms. */
    private readonly meanGapMs: number,
  ) {}

  /** The kinds this stress run can inject: disk-fill only with a mounted tmpfs. */
  kinds(): FaultKind[] {
    return FAULT_KINDS.filter((kind) => kind !== 'disk-fill' || this.targets.disk !== undefined);
  }

  /** Injects faults until `done` resolves (the last wrapper has exited). */
  async run(done: Promise<void>): Promise<void> {
    this.t0 = performance.now();
    const kinds = this.kinds();
    const firstRound = this.random.shuffle(kinds);
    const weights = Object.fromEntries(kinds.map((kind) => [kind, WEIGHTS[kind]])) as Record<FaultKind, number>;
    for (;;) {
      // Every draw is made whether or not the fault applies, so a seed replays the same choices.
      const gap = this.random.exponential(this.meanGapMs);
      const kind = firstRound.shift() ?? this.random.weighted(weights);
      const draw = {
        downMs: this.random.between(300, 3000),
        dir: this.random.int(0, this.targets.stateDirs.length - 1),
        pick: this.random.next(),
        wait: this.random.next() < 0.3,
        // Most kills hit a wrapper past its start-up (its run marker written), some hit one at any moment.
        started: this.random.next() < 0.75,
      };
      if (await pause(gap, done)) return;
      this.inject(kind, draw);
    }
  }

  /** Waits for faults under way: the server is up again, the disk freed, every watchdog invocation ended. */
  async settle(): Promise<void> {
    await this.server;
    await this.disk;
    this.targets.disk?.free();
    if (!this.targets.server.postmaster()) await this.startServer();
    await this.targets.watchdogs.drain();
  }

  private note(kind: FaultKind, applied: boolean, what: string): void {
    this.tally[kind][applied ? 'injected' : 'skipped']++;
    const line = `${((performance.now() - this.t0) / 1000).toFixed(1)} s ${kind}${applied ? '' : ' (skipped)'}: ${what}`;
    this.timeline.push(line);
    this.targets.log(line);
  }

  private inject(kind: FaultKind, draw: { downMs: number; dir: number; pick: number; wait: boolean; started: boolean }): void {
    const { pool, procs, watchdogs, stateDirs, disk } = this.targets;
    switch (kind) {
      case 'server-stop':
      case 'server-crash': {
        if (this.server) return this.note(kind, false, 'the server is already down');
        this.note(kind, true, `down ${(draw.downMs / 1000).toFixed(1)} s`);
        this.server = this.serverOutage(kind, draw.downMs).finally(() => (this.server = undefined));
        return;
      }
      case 'wrapper-kill': {
        const byIndex = (a: LiveRun, b: LiveRun) => a.plan.index - b.plan.index;
        const marked = draw.started ? pool.marked().sort(byIndex) : [];
        const live = marked.length > 0 ? marked : [...pool.live.values()].sort(byIndex);
        if (live.length === 0) return this.note(kind, false, 'no live wrapper');
        const target = live[Math.floor(draw.pick * live.length)];
        // kill() re-checks the tag and the starttime right before the signal; markKilled runs before
        // the exit event can be handled, so the run is still live there.
        if (!procs.kill(target.wrapper)) return this.note(kind, false, `run ${target.plan.index}: wrapper pid ${target.wrapper.pid} gone or not ours`);
        pool.markKilled(target.plan.index);
        return this.note(kind, true, `run ${target.plan.index} (${target.plan.kind}), wrapper pid ${target.wrapper.pid}, ${Math.round(performance.now() - target.startedAt)} ms after its start`);
      }
      case 'ship': {
        const args = ['ship', '--state-dir', stateDirs[draw.dir], '--quiet', ...(draw.wait ? ['--wait', '3s'] : [])];
        void watchdogs.run('ship', args);
        return this.note(kind, true, `state dir ${draw.dir}${draw.wait ? ', --wait 3s' : ''}`);
      }
      case 'reap': {
        void watchdogs.run('reap', ['reap', '--state-dir', stateDirs[draw.dir], '--quiet']);
        return this.note(kind, true, `state dir ${draw.dir}`);
      }
      case 'disk-fill': {
        if (!disk || this.disk) return this.note(kind, false, disk ? 'the disk is already full' : 'no full-disk state directory');
        disk.fill();
        this.note(kind, true, `full for ${(draw.downMs / 1000).toFixed(1)} s`);
        this.disk = sleep(draw.downMs).then(() => disk.free()).finally(() => (this.disk = undefined));
        return;
      }
    }
  }

  private async serverOutage(kind: 'server-stop' | 'server-crash', downMs: number): Promise<void> {
    try {
      await (kind === 'server-stop' ? this.targets.server.stop() : this.targets.server.kill());
    } catch (error) {
      this.errors.push(`${kind}: ${(error as Error).message}`);
    }
    await sleep(downMs);
    await this.startServer();
  }

  /** Starts the server again; a few attempts, since a crashed one may need a moment to free its port. */
  private async startServer(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.targets.server.start();
        return;
      } catch (error) {
        if (attempt >= 5) {
          this.errors.push(`the server did not start again: ${(error as Error).message}`);
          return;
        }
        this.targets.log(`server start failed (attempt ${attempt}), retrying: ${(error as Error).message.split('\n')[0]}`);
        await sleep(500 * attempt);
      }
    }
  }
}
