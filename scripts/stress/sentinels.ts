// Sentinels: processes outside every run (python3, each in a session of its own, without the
// harness tag) that catch every catchable signal and append its name to a file. Nothing of the
// product may ever signal them, so at the end each must be alive, not stopped, with an empty
// file. SIGKILL and SIGSTOP cannot be caught: a sentinel killed or stopped shows as dead or in
// state T. They are ended by pid with SIGKILL, after their identity and their own tag are checked.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasEnvEntry } from '../../src/proc/environ.js';
import { readStat } from '../../src/proc/stat.js';
import { signalMember } from '../../src/terminate/guard.js';
import { aliveAs, type Processes, type Started } from './context.js';

/** argv[1]: the file signals are appended to; argv[2]: the file made once every handler is installed. */
const SENTINEL = `import signal, sys, time
out, ready = sys.argv[1], sys.argv[2]
def caught(number, frame):
    with open(out, 'a') as f:
        f.write('%s %.3f\\n' % (signal.Signals(number).name, time.time()))
for number in signal.valid_signals():
    if number in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(number, caught)
    except (OSError, ValueError, RuntimeError):
        pass
open(ready, 'w').close()
while True:
    signal.pause()
`;

/** What went wrong with one sentinel. */
export interface SentinelProblem {
  pid: number;
  what: string;
}

export class Sentinels {
  private constructor(
    private readonly started: { process: Started; out: string }[],
    /** `SCIDEX_STRESS_SENTINEL=<uuid>`: the sentinels' own tag, checked before they are killed. */
    private readonly entry: string,
  ) {}

  /**
   * Starts `count` sentinels with their files in `dir` and waits (at most 10 s each) until each
   * has installed its handlers.
   * @throws when one does not get ready
   */
  static async start(procs: Processes, count: number, dir: string): Promise<Sentinels> {
    const tag = randomUUID();
    const entry = `SCIDEX_STRESS_SENTINEL=${tag}`;
    const env = procs.env(undefined);
    delete env.SCIDEX_TEST_TAG;
    env.SCIDEX_STRESS_SENTINEL = tag;
    const started = Array.from({ length: count }, (_, index) => {
      const out = join(dir, `sentinel-${index}.signals`);
      const ready = join(dir, `sentinel-${index}.ready`);
      return { process: procs.start('python3', ['-c', SENTINEL, out, ready], join(dir, `sentinel-${index}.log`), env, true), out, ready };
    });
    const sentinels = new Sentinels(started, entry);
    // A harness stopped on the way (Ctrl-C) still ends them.
    process.on('exit', sentinels.stop);
    for (const { process: sentinel, ready } of started) {
      // A hang bound: a python3 start took seconds on a host loaded by the test suite this runs in.
      const deadline = performance.now() + 60_000;
      while (!existsSync(ready)) {
        if (performance.now() > deadline || !aliveAs(sentinel)) {
          sentinels.stop();
          throw new Error(`sentinel pid ${sentinel.pid} did not get ready (see ${sentinel.log})`);
        }
        await sleep(20);
      }
    }
    return sentinels;
  }

  /** The pids of the sentinels. */
  get pids(): number[] {
    return this.started.map((entry) => entry.process.pid);
  }

  /** Every sentinel that got a signal, died or is stopped. */
  check(): SentinelProblem[] {
    return this.started.flatMap(({ process: sentinel, out }) => {
      const problems: SentinelProblem[] = [];
      const caught = existsSync(out) ? readFileSync(out, 'utf8').trim() : '';
      if (caught !== '') problems.push({ pid: sentinel.pid, what: `received ${caught.split('\n').join(', ')}` });
      const stat = readStat(sentinel.pid);
      if (!aliveAs(sentinel)) problems.push({ pid: sentinel.pid, what: 'is gone (SIGKILL, or another uncatchable end)' });
      else if (stat && (stat.state === 'T' || stat.state === 't')) problems.push({ pid: sentinel.pid, what: `is stopped (state ${stat.state}: SIGSTOP)` });
      return problems;
    });
  }

  /** SIGKILLs every sentinel still alive, each after checking its identity and its tag. */
  readonly stop = (): void => {
    process.off('exit', this.stop);
    for (const { process: sentinel } of this.started) {
      if (aliveAs(sentinel) && hasEnvEntry(sentinel.pid, this.entry)) signalMember(sentinel, 'SIGKILL');
    }
  };

  /** Waits until every sentinel has exited (they were started by us, so their exit is ours to see). */
  async ended(): Promise<void> {
    await Promise.all(this.started.map((entry) => entry.process.exited));
  }
}
