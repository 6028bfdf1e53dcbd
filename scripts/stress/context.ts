// Where the harness finds the product, the tag every process it starts carries, and the process
// bookkeeping: each child is started with its stdout and stderr in a log file (never a pipe, so a
// lifeline or an orphan that inherits them cannot hold the harness), known by (pid, starttime),
// and anything of ours still alive at the end is found by the tag and killed by pid, after the
// tag and the starttime are re-checked. Never by name, never a pid <= 1, never a group.
//
// ROOT is two levels above this module, both in scripts/stress/ (vitest imports the TypeScript)
// and in dist/stress/ (the bundle `npm run stress` runs).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasEnvEntry } from '../../src/proc/environ.js';
import { listPids } from '../../src/proc/list.js';
import { isDead, readStat } from '../../src/proc/stat.js';
import { signalMember } from '../../src/terminate/guard.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RUN_BIN = join(ROOT, 'bin/scidex-run');
export const WATCHDOG_BIN = join(ROOT, 'bin/scidex-watchdog');

/** The environment variable that marks every process of a stress run (as the tests' tag). */
export const TAG_NAME = 'SCIDEX_TEST_TAG';

/** A process by identity. */
export interface Proc {
  pid: number;
  /** Clock ticks after boot (proc(5) stat field 22); -1 when the process was gone before we read it. */
  starttime: number;
}

/** How a child ended: its exit code, or the signal that killed it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child the harness started. */
export interface Started extends Proc {
  argv: readonly string[];
  /** The file that holds its stdout and stderr. */
  log: string;
  /** Resolves when it has exited (never rejects; a spawn failure is code null, signal null). */
  exited: Promise<Exit>;
}

/** Whether `proc` is alive now (not a zombie) with the same starttime. */
export function aliveAs(proc: Proc): boolean {
  const stat = proc.pid > 1 ? readStat(proc.pid) : undefined;
  return stat !== undefined && stat.starttime === proc.starttime && !isDead(stat);
}

/** `pid N \`argv\`` for a report line; `?` when the process is gone. */
export function describeProcess(pid: number): string {
  let argv = '?';
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ');
  } catch {
    // gone meanwhile
  }
  return `pid ${pid} \`${argv.slice(0, 160)}\``;
}

/** The value of `name` in /proc/PID/environ, if the process has it and we may read it. */
export function environValue(pid: number, name: string): string | undefined {
  try {
    const entry = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').find((line) => line.startsWith(`${name}=`));
    return entry?.slice(name.length + 1);
  } catch {
    return undefined;
  }
}

/** Every process a stress run starts, and the tag they carry. */
export class Processes {
  /** `SCIDEX_TEST_TAG=<uuid>`: the entry each child's /proc/PID/environ holds. */
  readonly entry: string;

  constructor(readonly tag: string = randomUUID()) {
    this.entry = `${TAG_NAME}=${tag}`;
  }

  /**
   * The environment of a child: ours without any database, state directory, outer run or test tag
   * of the caller's, plus the harness tag, the database URL and `extra`.
   */
  env(databaseUrl: string | undefined, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of Object.keys(env)) {
      if (name === 'DATABASE_URL' || name.startsWith('PG') || name.startsWith('SCIDEX_') || name === 'GITHUB_ACTIONS') delete env[name];
    }
    if (databaseUrl !== undefined) env.DATABASE_URL = databaseUrl;
    return { ...env, ...extra, [TAG_NAME]: this.tag };
  }

  /**
   * Starts `file` with `args`, stdout and stderr appended to `log`, stdin closed.
   * @param env the child's whole environment (see env()); it must carry the tag
   * @param detached in a session of its own (sentinels), else in ours (a Ctrl-C reaches the runs too)
   */
  start(file: string, args: readonly string[], log: string, env: NodeJS.ProcessEnv, detached = false): Started {
    const fd = openSync(log, 'a', 0o600);
    try {
      const child = spawn(file, args, { stdio: ['ignore', fd, fd], env, detached });
      const exited = new Promise<Exit>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', () => resolve({ code: null, signal: null }));
      });
      const pid = child.pid ?? -1;
      const starttime = pid > 1 ? (readStat(pid)?.starttime ?? -1) : -1;
      return { pid, starttime, argv: [file, ...args], log, exited };
    } finally {
      closeSync(fd);
    }
  }

  /** Whether `proc` is alive with its starttime and carries our tag. */
  ours(proc: Proc): boolean {
    return proc.pid > 1 && proc.pid !== process.pid && aliveAs(proc) && hasEnvEntry(proc.pid, this.entry);
  }

  /** Live (non-zombie) processes carrying our tag, this one excluded. */
  tagged(): Proc[] {
    return listPids().flatMap((pid) => {
      if (pid <= 1 || pid === process.pid) return [];
      const stat = readStat(pid);
      return stat && !isDead(stat) && hasEnvEntry(pid, this.entry) ? [{ pid, starttime: stat.starttime }] : [];
    });
  }

  /**
   * Sends `signal` (SIGKILL by default) to `proc` if, checked right now, it is alive with its
   * starttime and carries our tag; through a pidfd where the kernel has them, so a reused pid is
   * never hit.
   * @returns whether the signal was sent
   */
  kill(proc: Proc, signal: NodeJS.Signals = 'SIGKILL'): boolean {
    return this.ours(proc) && signalMember(proc, signal) === 'sent';
  }

  /**
   * For an exit handler (a harness stopped by Ctrl-C): SIGKILLs every process carrying our tag,
   * one by one by pid, pass after pass 50 ms apart until none is left (at most 20 passes), so that
   * what they were forking is caught too. Synchronous: the event loop does not run any more.
   */
  readonly killAllNow = (): void => {
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let pass = 0; pass < 20; pass++) {
      const left = this.tagged();
      if (left.length === 0) return;
      for (const proc of left) this.kill(proc);
      Atomics.wait(pause, 0, 0, 50);
    }
  };
}
