// The scidex-watchdog processes of a stress run: `ship` and `reap` started at random moments on
// the shared state directories (faults.ts), the final reap and ship (stress.ts), and one `serve`
// daemon on a random loopback port for the whole run phase. Each gets the database URL, is
// tracked until it exits, and is killed by pid (and reported) if it outlives its time.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeLoopbackPort } from '../../test/helpers/server-host.js';
import { WATCHDOG_BIN, type Exit, type Processes, type Started } from './context.js';

/** One scidex-watchdog invocation and how it ended. */
export interface CliRun {
  /** What it was for: `ship`, `reap`, `final ship`, ... */
  label: string;
  args: readonly string[];
  exit: Exit;
  /** Start to exit, ms. */
  ms: number;
  /** Its stdout and stderr. */
  log: string;
  /** It outlived its time and was killed by the harness. */
  hung: boolean;
}

/** The daemon. */
export interface Serve {
  port: number;
  process: Started;
  /** SIGTERM, then waits for the exit (SIGKILL after `timeoutMs`). @returns its exit and whether it had to be killed */
  stop(timeoutMs: number): Promise<{ exit: Exit; killed: boolean }>;
}

/** Resolves with `promise`'s value, or undefined after `ms` milliseconds. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

export class Watchdogs {
  /** Every invocation that has exited, in order of exit. */
  readonly finished: CliRun[] = [];
  private readonly pending = new Set<Promise<CliRun>>();
  private count = 0;

  constructor(
    private readonly procs: Processes,
    private readonly databaseUrl: string,
    private readonly logDir: string,
    /** Longest an invocation may take before it is killed and reported hung, ms. */
    private readonly hangMs: number,
  ) {}

  /**
   * Runs `scidex-watchdog <args> --database-url URL` in the background.
   * @returns its outcome once it has exited
   */
  run(label: string, args: readonly string[]): Promise<CliRun> {
    const log = join(this.logDir, `watchdog-${++this.count}-${label.replace(/\W+/g, '-')}.log`);
    const all = [...args, '--database-url', this.databaseUrl];
    const child = this.procs.start(WATCHDOG_BIN, all, log, this.procs.env(this.databaseUrl));
    const t0 = performance.now();
    const outcome = (async (): Promise<CliRun> => {
      let exit = await within(child.exited, this.hangMs);
      const hung = exit === undefined;
      if (hung) {
        this.procs.kill(child);
        exit = await child.exited;
      }
      const run = { label, args: all, exit: exit!, ms: Math.round(performance.now() - t0), log, hung };
      this.finished.push(run);
      return run;
    })();
    this.pending.add(outcome);
    void outcome.finally(() => this.pending.delete(outcome));
    return outcome;
  }

  /** Waits until every invocation started so far has exited. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /**
   * Starts `scidex-watchdog serve` on a free loopback port for `stateDir`, sweeping every
   * `intervalMs`, and waits until it answers GET /status.
   * @throws when it exits or does not answer within 30 s (it is stopped first)
   */
  async startServe(stateDir: string, intervalMs: number): Promise<Serve> {
    const port = await freeLoopbackPort();
    const args = ['serve', '--listen', `127.0.0.1:${port}`, '--interval', `${intervalMs}ms`, '--state-dir', stateDir, '--database-url', this.databaseUrl];
    const child = this.procs.start(WATCHDOG_BIN, args, join(this.logDir, 'serve.log'), this.procs.env(this.databaseUrl));
    let ended = false;
    void child.exited.then(() => (ended = true));
    const stop = async (timeoutMs: number) => {
      this.procs.kill(child, 'SIGTERM');
      let exit = await within(child.exited, timeoutMs);
      const killed = exit === undefined;
      if (killed) {
        this.procs.kill(child);
        exit = await child.exited;
      }
      return { exit: exit!, killed };
    };
    const deadline = performance.now() + 30_000;
    for (;;) {
      const answer = await fetch(`http://127.0.0.1:${port}/status`).then(
        async (response) => (await response.arrayBuffer(), response.status),
        () => 0,
      );
      if (answer === 200) return { port, process: child, stop };
      if (ended || performance.now() > deadline) {
        await stop(5000);
        throw new Error(`scidex-watchdog serve on 127.0.0.1:${port} did not come up (see ${child.log})`);
      }
      await sleep(100);
    }
  }
}
