/**
 * The lifeline: a guard process outside the run that outlives a wrapper killed by SIGKILL or the
 * OOM killer and finishes its run. It is `sh` blocked reading a pipe whose only writer is the
 * wrapper (Node opens pipes close-on-exec, so the run's processes do not hold it). A wrapper that
 * finishes kills the guard; a wrapper that dies closes the pipe, `read` sees
 * end-of-file, and the guard becomes `scidex-watchdog reap --run <id>`, which kills what is left
 * (identity and cookie checked) and marks the run lost. It costs an idle shell (~1.7 MiB RSS, BENCHMARKS.md) per run
 * and no Node startup until it is needed. It runs in a session of its own, outside the run's
 * cgroup, and is excluded from the run's members.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { FAILPOINTS_VARIABLE } from '../sys/failpoint.js';
import { fileURLToPath } from 'node:url';
import { readStat } from '../proc/stat.js';

/** bin/scidex-watchdog, two levels up from this module both in src/supervise and in dist/bin. */
export const WATCHDOG_BIN = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));

// Deaf to SIGTERM, SIGINT and SIGHUP while it waits: a scheduler that ends a job (Slurm's scancel,
// its time limit) signals every process of the job, and a guard that died of that SIGTERM would be
// gone when the SIGKILL after it takes the wrapper. The reaper it becomes gets the defaults back.
const SCRIPT = "trap '' TERM INT HUP; read -r _; trap - TERM INT HUP; exec \"$1\" \"$2\" reap --quiet --run \"$3\" --state-dir \"$4\"";

export interface Lifeline {
  pid: number;
  /** Clock ticks after boot: with pid, the guard's identity. */
  starttime: number;
  /** The run is finished: the guard is killed (a `done` line written now might not be flushed before we exit). */
  release(): void;
}

/**
 * Starts the guard for run `runId`.
 * @param databaseUrl where the reaper ships its records (given by environment, never argv: argv is public)
 * @returns the lifeline, or undefined when /bin/sh cannot be started (the run goes on without one)
 */
export function startLifeline(runId: string, stateDir: string, databaseUrl: string | undefined): Lifeline | undefined {
  const env: NodeJS.ProcessEnv = { ...process.env, SCIDEX_RUN_DATABASE_URL: databaseUrl, [FAILPOINTS_VARIABLE]: undefined };
  if (databaseUrl === undefined) delete env.SCIDEX_RUN_DATABASE_URL;
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', SCRIPT, 'scidex-run-lifeline', process.execPath, WATCHDOG_BIN, runId, stateDir], {
      stdio: ['pipe', 'ignore', 'inherit'],
      detached: true,
      env,
    });
  } catch {
    return undefined;
  }
  if (child.pid === undefined) return undefined;
  child.on('error', () => undefined);
  child.stdin!.on('error', () => undefined);
  child.unref();
  return {
    pid: child.pid,
    starttime: readStat(child.pid)?.starttime ?? -1,
    // Our own child: until libuv reaps it its pid cannot be reused, and once reaped Node's handle
    // is gone and kill() sends nothing. No identity check or pidfd (and its FFI) is needed.
    release: () => void child.kill('SIGKILL'),
  };
}
