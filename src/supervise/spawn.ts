/**
 * Spawning the leader. It gets a session and process group of its own (Node's `detached` calls
 * setsid(2)), so a terminal's Ctrl-C reaches only us and we decide what the tree receives, and the
 * PGID and SID of the whole tree are the leader's pid. stdio is inherited, never piped through us:
 * a grandchild holding a pipe must not keep the wrapper waiting, so the run ends on the leader's
 * 'exit' event. The command is executed directly, never through a shell. Node's own spawn does all
 * of this; execa, which the tests use, would add its stdio and promise machinery to every run's
 * start-up for nothing (BENCHMARKS.md, "Light").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readStat } from '../proc/stat.js';
import { signalMember } from '../terminate/guard.js';
import type { LeaderExit } from './exit-status.js';

/** A spawned leader. */
export interface Leader {
  pid: number;
  /** Resolves when the leader has exited and been reaped. */
  exited: Promise<LeaderExit>;
}

/** A spawn that failed: there is no process, and there must be no signal. */
export interface SpawnFailure {
  /** errno name: ENOENT, EACCES, ... */
  code: string | undefined;
  message: string;
}

/** Run synchronously around the fork: the cgroup backend moves the wrapper in and back out. */
export interface SpawnBracket {
  enter(): void;
  leave(): void;
}

/**
 * Spawns `command` with `env` in a new session, inside `bracket` when given.
 * @returns the leader, or the failure when exec did not happen
 * @throws what `bracket` throws
 */
export async function spawnLeader(command: string[], env: NodeJS.ProcessEnv, bracket?: SpawnBracket): Promise<Leader | SpawnFailure> {
  bracket?.enter();
  let spawned: ChildProcess | undefined;
  let spawnError: { error: unknown } | undefined;
  try {
    spawned = spawn(command[0], command.slice(1), { stdio: 'inherit', detached: true, env });
  } catch (error) {
    spawnError = { error };
  }
  // Left whether or not the spawn threw: the bracket must not outlive it.
  try {
    bracket?.leave();
  } catch (error) {
    // Never leave a leader we cannot supervise: it dies before it can fork (it is our unreaped child).
    const pid = spawned?.pid;
    const starttime = pid === undefined ? undefined : readStat(pid)?.starttime;
    if (pid !== undefined && starttime !== undefined) signalMember({ pid, starttime }, 'SIGKILL');
    throw error;
  }
  if (spawnError) {
    // Node throws some exec(2) failures at once instead of emitting them (E2BIG, ENOTDIR, ELOOP,
    // ENAMETOOLONG, ETXTBSY, ENOMEM): a command that could not start all the same (126), not our failure.
    const code = (spawnError.error as NodeJS.ErrnoException).code;
    if (typeof (spawnError.error as NodeJS.ErrnoException).errno !== 'number' || code === undefined) throw spawnError.error;
    return { code, message: `cannot run '${command[0]}': ${describeSpawnError(code)}` };
  }
  const child = spawned!;
  if (child.pid === undefined) {
    // exec(2) did not happen: Node reports why on 'error', after this tick.
    const code = await new Promise<string | undefined>((resolve) => child.once('error', (error: NodeJS.ErrnoException) => resolve(error.code)));
    return { code, message: `cannot run '${command[0]}': ${describeSpawnError(code)}` };
  }
  // Once spawned, an 'error' is a failed kill() or disconnect() of Node's; we signal through terminate/, never through it.
  child.on('error', () => undefined);
  const exited = new Promise<LeaderExit>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { pid: child.pid, exited };
}

function describeSpawnError(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'command not found';
    case 'EACCES':
      return 'permission denied (not an executable file)';
    default:
      return code ?? 'unknown error';
  }
}
