// The runs: a seeded plan (which command, which state directory, which tracking backend, when),
// and the pool that starts the real bin/scidex-run for each at its planned moment, at most
// `concurrency` alive at once, and collects how each ended. The fault injector picks its victims
// among the live wrappers here.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunStatus } from '../../src/record/types.js';
import { RUN_BIN, type Exit, type Processes, type Started } from './context.js';
import type { Random } from './random.js';

/** The commands of the mix. */
export type RunKind = 'true' | 'sleep' | 'long' | 'timeout' | 'orphan' | 'nonzero';

/** How often each kind is drawn, relative to the others. */
const KIND_WEIGHTS: Record<RunKind, number> = { true: 2, sleep: 3, long: 1.5, timeout: 1.5, orphan: 1.5, nonzero: 1.5 };

/** What each kind ends with when nothing interferes: the wrapper's exit status and the run's status. */
export const EXPECTED: Record<RunKind, { exitCode: number; status: RunStatus }> = {
  true: { exitCode: 0, status: 'completed' },
  sleep: { exitCode: 0, status: 'completed' },
  long: { exitCode: 0, status: 'completed' },
  timeout: { exitCode: 124, status: 'timeout' },
  // The command exits 0; its forked child is an orphan, killed by the wrapper (--orphans kill).
  orphan: { exitCode: 0, status: 'completed' },
  nonzero: { exitCode: 3, status: 'failed' },
};

/** A child that sleeps for 30 s, and a parent that exits after argv[1] seconds: an orphan for the wrapper. */
const ORPHAN = 'import os, sys, time\nif os.fork() == 0:\n    time.sleep(30)\n    os._exit(0)\ntime.sleep(float(sys.argv[1]))\n';

/** One run of the plan. */
export interface PlannedRun {
  /** 0-based, in order of planned start. */
  index: number;
  kind: RunKind;
  /** Unique per run: how its journal and rows are found (`stress-<tag>-<index>`). */
  analysisId: string;
  /** Index into the stress run's state directories. */
  dir: number;
  /** `auto` or a backend --explain-tracking reports available. */
  tracking: string;
  /** The command after `--`. */
  command: string[];
  /** Planned start, ms after the run phase began. */
  startAtMs: number;
}

/**
 * Plans `runs` runs over `durationMs` (start times uniform, sorted), each in one of `dirs` state
 * directories, with the backend `auto` half the time and one of `backends` otherwise.
 */
export function planRuns(random: Random, runs: number, durationMs: number, dirs: number, backends: readonly string[], tag: string): PlannedRun[] {
  const starts = Array.from({ length: runs }, () => random.between(0, durationMs)).sort((a, b) => a - b);
  return starts.map((startAtMs, index) => {
    const kind = random.weighted(KIND_WEIGHTS);
    const command = {
      true: () => ['true'],
      sleep: () => ['sleep', random.between(0.1, 0.9).toFixed(1)],
      long: () => ['sleep', random.between(1.5, 4).toFixed(1)],
      timeout: () => ['sleep', '30'],
      orphan: () => ['python3', '-c', ORPHAN, random.between(0, 0.5).toFixed(2)],
      nonzero: () => ['sh', '-c', `sleep ${random.between(0, 0.5).toFixed(1)}; exit 3`],
    }[kind]();
    const tracking = random.next() < 0.5 || backends.length === 0 ? 'auto' : random.pick(backends);
    return { index, kind, analysisId: `stress-${tag.slice(0, 8)}-${index}`, dir: random.int(0, dirs - 1), tracking, command, startAtMs };
  });
}

/** The wrapper's arguments for `run`: short heartbeats and samples, so its journal has many lines. */
export function wrapperArgs(run: PlannedRun, stateDir: string, databaseUrl: string): string[] {
  const limits = run.kind === 'timeout' ? ['--timeout', '1s', '--grace', '200ms'] : ['--timeout', '60s', '--grace', '500ms'];
  return [
    '--analysis-id', run.analysisId, '--state-dir', stateDir, '--database-url', databaseUrl, '--tracking', run.tracking,
    '--heartbeat-interval', '500ms', '--sample-interval', '200ms', ...limits, '--', ...run.command,
  ];
}

/** How one run ended, as the harness saw it. */
export interface RunOutcome {
  plan: PlannedRun;
  /** The wrapper. */
  wrapper: Started;
  exit: Exit;
  /** The harness SIGKILLed the wrapper (a fault), at this many ms after its start. */
  killedAtMs?: number;
  /** The wrapper outlived `hangMs` and was killed by the harness. */
  hung: boolean;
  /** Spawn to exit, ms. */
  wallMs: number;
}

/** A wrapper alive now. */
export interface LiveRun {
  plan: PlannedRun;
  wrapper: Started;
  startedAt: number;
}

/** Starts the planned runs and keeps track of the live ones. */
export class RunPool {
  /** Live wrappers by run index. */
  readonly live = new Map<number, LiveRun>();
  readonly outcomes: RunOutcome[] = [];
  private readonly killedAt = new Map<number, number>();

  constructor(
    private readonly procs: Processes,
    private readonly stateDirs: readonly string[],
    private readonly logDir: string,
    private readonly databaseUrl: string,
    private readonly concurrency: number,
    /** A wrapper alive this long (ms) is hung: killed and reported. */
    private readonly hangMs: number,
  ) {}

  /**
   * The live runs whose wrapper has written its run marker (`<state>/running/<id>.json` naming its
   * pid and starttime): past its start-up, its run journaled and its lifeline started.
   */
  marked(): LiveRun[] {
    const byDir = new Map<number, Set<string>>();
    const markedIn = (dir: number): Set<string> => {
      let found = byDir.get(dir);
      if (found) return found;
      byDir.set(dir, (found = new Set()));
      const running = join(this.stateDirs[dir], 'running');
      let names: string[];
      try {
        names = readdirSync(running).filter((name) => name.endsWith('.json'));
      } catch {
        return found;
      }
      for (const name of names) {
        try {
          const marker = JSON.parse(readFileSync(join(running, name), 'utf8')) as { wrapper_pid: number; wrapper_starttime: number };
          found.add(`${marker.wrapper_pid}:${marker.wrapper_starttime}`);
        } catch {
          // removed meanwhile (the run ended)
        }
      }
      return found;
    };
    return [...this.live.values()].filter((run) => markedIn(run.plan.dir).has(`${run.wrapper.pid}:${run.wrapper.starttime}`));
  }

  /** Notes that the harness SIGKILLed the wrapper of run `index`. */
  markKilled(index: number): void {
    const live = this.live.get(index);
    if (live) this.killedAt.set(index, Math.round(performance.now() - live.startedAt));
  }

  /**
   * Starts each run at its planned moment (ms after `t0`, a performance.now() value), waiting for a
   * free place when `concurrency` wrappers are alive.
   * @returns every run's outcome, once every wrapper has exited
   */
  async runAll(plans: readonly PlannedRun[], t0: number): Promise<RunOutcome[]> {
    const ending: Promise<void>[] = [];
    for (const plan of plans) {
      const due = t0 + plan.startAtMs - performance.now();
      if (due > 0) await sleep(due);
      while (this.live.size >= this.concurrency) await Promise.race([...this.live.values()].map((live) => live.wrapper.exited));
      ending.push(this.startOne(plan));
    }
    await Promise.all(ending);
    return this.outcomes.sort((a, b) => a.plan.index - b.plan.index);
  }

  private async startOne(plan: PlannedRun): Promise<void> {
    const args = wrapperArgs(plan, this.stateDirs[plan.dir], this.databaseUrl);
    const wrapper = this.procs.start(RUN_BIN, args, join(this.logDir, `run-${plan.index}.log`), this.procs.env(this.databaseUrl));
    const startedAt = performance.now();
    this.live.set(plan.index, { plan, wrapper, startedAt });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      this.procs.kill(wrapper);
    }, this.hangMs);
    const exit = await wrapper.exited;
    clearTimeout(timer);
    this.live.delete(plan.index);
    this.outcomes.push({ plan, wrapper, exit, killedAtMs: this.killedAt.get(plan.index), hung, wallMs: Math.round(performance.now() - startedAt) });
  }
}
