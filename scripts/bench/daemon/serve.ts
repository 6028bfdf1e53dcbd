// The daemon under test, `scidex-watchdog serve`, as an operator starts it: a loopback listener on a
// port the kernel picks (read back from its "serving http://HOST:PORT/" line), --interval, a state
// directory and a database. It is tracked by (pid, starttime) and stopped by SIGTERM through the
// product's signalMember (pidfd), then checked gone. Also: what /proc says of a process (VmRSS, CPU
// ticks), and the wrappers the measures run under it.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execaSync } from 'execa';
import { readDaemonFile, type SweepReport } from '../../../src/watchdog/daemon-file.js';
import { readStat } from '../../../src/proc/stat.js';
import { signalMember } from '../../../src/terminate/guard.js';
import { RUN_BIN, WATCHDOG_BIN } from '../common/context.js';
import { start } from '../common/processes.js';

/** Clock ticks per second of /proc/PID/stat's utime and stime. */
export const CLK_TCK = Number(execaSync('getconf', ['CLK_TCK']).stdout.trim()) || 100;

export interface Proc {
  pid: number;
  starttime: number;
}

/** The identity of a child we just started. @throws when it is already gone */
export function identify(pid: number | undefined): Proc {
  const stat = pid === undefined ? undefined : readStat(pid);
  if (!stat) throw new Error(`process ${pid} is gone before it could be identified`);
  return { pid: pid!, starttime: stat.starttime };
}

export class ServeDaemon {
  private constructor(
    readonly child: ReturnType<typeof start>,
    readonly proc: Proc,
    readonly stateDir: string,
    /** http://127.0.0.1:PORT */
    readonly base: string,
    /** Its stderr, line by line, as it comes. */
    private readonly lines: string[],
  ) {}

  /** Starts `scidex-watchdog serve` and waits until it serves and has finished its first sweep. */
  static async start(stateDir: string, databaseUrl: string | undefined, interval: string): Promise<ServeDaemon> {
    const args = ['serve', '--listen', '127.0.0.1:0', '--interval', interval, '--state-dir', stateDir];
    if (databaseUrl !== undefined) args.push('--database-url', databaseUrl);
    const child = start(WATCHDOG_BIN, args, stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', buffer: false });
    const lines: string[] = [];
    let pending = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      const parts = (pending + chunk.toString('utf8')).split('\n');
      pending = parts.pop()!;
      lines.push(...parts);
    });
    const proc = identify(child.pid);
    let base: string | undefined;
    for (const end = performance.now() + 30_000; performance.now() < end; await sleep(50)) {
      if (child.exitCode !== null) break;
      const address = lines.map((line) => /serving http:\/\/(\S+?)\//.exec(line)?.[1]).find(Boolean);
      base ??= address === undefined ? undefined : `http://${address}`;
      if (base !== undefined && readDaemonFile(stateDir)?.last_sweep) return new ServeDaemon(child, proc, stateDir, base, lines);
    }
    signalMember(proc, 'SIGKILL');
    await child.catch(() => undefined);
    throw new Error(`scidex-watchdog serve did not come up within 30 s: ${lines.join(' / ')}`);
  }

  /** The daemon's stderr so far, but its expected lines (serving, stopping, stopped). */
  oddLines(): string[] {
    return this.lines.filter((line) => !/: (serving http|SIGTERM: finishing the sweep|stopped$)/.test(line));
  }

  /** The last sweep the daemon reported in watchdog.json. */
  lastSweep(): SweepReport | null | undefined {
    return readDaemonFile(this.stateDir)?.last_sweep;
  }

  /** SIGTERM by (pid, starttime); waits for its exit. @returns its exit code, and whether it had to be killed */
  async stop(): Promise<{ exitCode: number | undefined; killed: boolean }> {
    signalMember(this.proc, 'SIGTERM');
    const exited = await Promise.race([this.child.then(() => true, () => true), sleep(30_000).then(() => false)]);
    if (!exited) signalMember(this.proc, 'SIGKILL');
    const result = await this.child;
    return { exitCode: result.exitCode, killed: !exited };
  }
}

/** VmRSS of a live process, bytes; undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** utime + stime of a live process, clock ticks (proc(5) stat fields 14 and 15). */
export function cpuTicks(pid: number): number {
  const stat = readStat(pid);
  if (!stat) throw new Error(`process ${pid} is gone`);
  return stat.utimeTicks + stat.stimeTicks;
}

export interface Footprint {
  seconds: number;
  /** VmRSS once a second, bytes. */
  rss: number[];
  /** CPU over the window, % of one core. */
  cpuPercent: number;
  /** CPU of each one-second step, % of one core. */
  cpuSteps: number[];
  /** The sweeps that ended in the window (watchdog.json's last_sweep, each once). */
  sweeps: SweepReport[];
}

/** Samples a process's VmRSS and CPU every second for `seconds`, and the daemon's sweeps meanwhile. */
export async function sampleFootprint(daemon: ServeDaemon, seconds: number): Promise<Footprint> {
  const pid = daemon.proc.pid;
  const rss: number[] = [];
  const cpuSteps: number[] = [];
  const sweeps = new Map<string, SweepReport>();
  const t0 = performance.now();
  const ticks0 = cpuTicks(pid);
  let [lastT, lastTicks] = [t0, ticks0];
  for (let i = 1; i <= seconds; i++) {
    await sleep(Math.max(0, t0 + i * 1000 - performance.now()));
    const [now, ticks, bytes] = [performance.now(), cpuTicks(pid), rssBytes(pid)];
    if (bytes !== undefined) rss.push(bytes);
    cpuSteps.push(((ticks - lastTicks) / CLK_TCK / ((now - lastT) / 1000)) * 100);
    [lastT, lastTicks] = [now, ticks];
    const sweep = daemon.lastSweep();
    if (sweep) sweeps.set(sweep.at, sweep);
  }
  const cpuPercent = ((lastTicks - ticks0) / CLK_TCK / ((lastT - t0) / 1000)) * 100;
  return { seconds, rss, cpuPercent, cpuSteps, sweeps: [...sweeps.values()] };
}

/** Starts one `scidex-run` (tracked and tagged) on `stateDir`, recording into `databaseUrl`. */
export function startWrapper(stateDir: string, databaseUrl: string | undefined, analysisId: string, command: string[], extra: string[] = []) {
  return start(RUN_BIN, ['--quiet', '--analysis-id', analysisId, ...extra, '--', ...command], stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' }, databaseUrl);
}
