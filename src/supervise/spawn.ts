/**
 * Spawning the leader. It gets a session and process group of its own (Node's `detached` calls
 * setsid(2)), so a terminal's Ctrl-C reaches only us and we decide what the tree receives, and the
 * PGID and SID of the whole tree are the leader's pid. stdio is inherited, never piped through us:
 * a grandchild holding a pipe must not keep the wrapper waiting (execa's promise would), so the run
 * ends on the leader's 'exit' event. The command is executed directly, never through a shell.
 */
import { execa, type ResultPromise } from 'execa';
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
  let spawned: ResultPromise | undefined;
  let spawnError: { error: unknown } | undefined;
  try {
    spawned = execa(command[0], command.slice(1), {
      stdio: 'inherit',
      detached: true,
      cleanup: false,
      reject: false,
      env,
      extendEnv: false,
    });
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
  if (spawnError) throw spawnError.error;
  const subprocess = spawned!;
  if (subprocess.pid === undefined) {
    const result = await subprocess;
    const code = (result.cause as NodeJS.ErrnoException | undefined)?.code ?? (result as { code?: string }).code;
    return { code, message: `cannot run '${command[0]}': ${describeSpawnError(code)}` };
  }
  const exited = new Promise<LeaderExit>((resolve) => {
    subprocess.on('exit', (code, signal) => resolve({ code, signal }));
  });
  // The result promise settles once stdio closes; nothing waits for it, so it must not reject unhandled.
  subprocess.catch(() => undefined);
  return { pid: subprocess.pid, exited };
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
