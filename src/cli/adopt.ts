/**
 * `scidex-watchdog adopt PID --analysis-id X [--timeout D] [--memory-limit S] [--grace D]
 * [--orphans P] [--since-start] [--starttime T] ...`: hands a running process and its tree to a
 * supervisor of its own, which supervises it as a run (docs/design.md, "Adopting a process").
 *
 * Two processes: this command checks its arguments (bad input is one line and exit 125 before
 * anything starts), then starts the supervisor detached (its own session, no terminal, stdio
 * closed, so a caller that reads our output through a pipe is never held by it) and waits for its
 * word on a pipe of their own (fd 3): the run id once the supervision is in place (the process
 * verified by pidfd, the tree tracked, the marker written, run_started journaled), or why the
 * process may not be adopted. It prints the run id on stdout, one line, and exits 0; or the reason
 * on stderr and 125. The supervisor is `adopt --supervise`, with the request in its environment
 * (SCIDEX_ADOPT_REQUEST: never argv, which every user can read, as the database URL may be in it).
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { UsageError } from '../config/errors.js';
import { formatDuration } from '../config/duration.js';
import { buildRunConfig, RUN_DEFAULTS, type RawRunOptions } from '../config/run-config.js';
import { formatSize } from '../config/size.js';
import { launch } from '../supervise/launch.js';
import { WATCHDOG_BIN } from '../supervise/lifeline.js';
import { messagesFor } from './output.js';

/** The variable that carries the request to the supervisor. */
const REQUEST_VARIABLE = 'SCIDEX_ADOPT_REQUEST';
/** How long the supervisor may take to put the supervision in place, milliseconds. */
const READY_TIMEOUT_MS = 60_000;

export interface AdoptArgs {
  pid: string;
  analysisId?: string;
  timeout?: string;
  memoryLimit?: string;
  grace?: string;
  killSignal?: string;
  orphans?: string;
  orphanSettle?: string;
  tracking?: string;
  sinceStart?: boolean;
  starttime?: string;
  stateDir?: string;
  databaseUrl?: string;
  heartbeatInterval?: string;
  sampleInterval?: string;
  quiet?: boolean;
  supervise?: boolean;
}

/** What the requester hands the supervisor. */
interface AdoptRequest {
  raw: RawRunOptions;
  pid: number;
  starttime?: number;
  sinceStart: boolean;
}

/** The supervisor's word on fd 3. */
type Word = { ok: true; run_id: string; pid: number; backend: string } | { ok: false; message: string };

/**
 * Runs `adopt`: the requester side, or with --supervise the supervisor.
 * @returns the exit status
 * @throws UsageError for bad input or a refusal (exit 125)
 */
export async function adoptCommand(args: AdoptArgs, print: (line: string) => void): Promise<number> {
  if (args.supervise) return supervise();
  const request = requestOf(args);
  const config = buildRunConfig(request.raw, process.env);
  const word = await startSupervisor(request);
  if (!word.ok) throw new UsageError(word.message);
  process.stdout.write(`${word.run_id}\n`);
  if (!args.quiet) {
    const limits = [
      `timeout ${config.timeoutMs === 0 ? 'none' : `${formatDuration(config.timeoutMs)} from ${request.sinceStart ? "the process's start" : 'now'}`}`,
      `memory ${config.memoryLimitBytes === 0 ? 'none' : formatSize(config.memoryLimitBytes)}`,
      `grace ${formatDuration(config.graceMs)}`,
      `orphans ${config.orphans}`,
    ].join(', ');
    print(`adopted pid ${word.pid} as run ${word.run_id} (tracking ${word.backend}; ${limits}); scidex-watchdog release ${word.run_id} ends the supervision`);
  }
  return 0;
}

/** The request this invocation makes. @throws UsageError for bad input */
function requestOf(args: AdoptArgs): AdoptRequest {
  const pid = positiveInteger(args.pid, 'pid', 'a process id');
  if (pid <= 1) throw new UsageError(`invalid pid '${args.pid}': pid ${pid} is never adopted (init, or no process)`);
  const starttime = args.starttime === undefined ? undefined : positiveInteger(args.starttime, '--starttime', "the process's start time in clock ticks after boot (proc(5) stat field 22)");
  const raw: RawRunOptions = {
    // The run's command is the adopted process's own (/proc/PID/cmdline), read by the supervisor.
    command: [`pid ${pid}`],
    analysisId: args.analysisId ?? process.env.SCIDEX_ANALYSIS_ID,
    timeout: args.timeout ?? RUN_DEFAULTS.timeout,
    memoryLimit: args.memoryLimit ?? RUN_DEFAULTS.memoryLimit,
    grace: args.grace ?? RUN_DEFAULTS.grace,
    orphans: args.orphans ?? RUN_DEFAULTS.orphans,
    orphanSettle: args.orphanSettle ?? RUN_DEFAULTS.orphanSettle,
    pollInterval: RUN_DEFAULTS.pollInterval,
    killSignal: args.killSignal ?? RUN_DEFAULTS.killSignal,
    preserveStatus: false,
    tracking: args.tracking ?? RUN_DEFAULTS.tracking,
    databaseUrl: args.databaseUrl,
    stateDir: args.stateDir,
    sampleInterval: args.sampleInterval ?? RUN_DEFAULTS.sampleInterval,
    heartbeatInterval: args.heartbeatInterval ?? RUN_DEFAULTS.heartbeatInterval,
    journalRetention: process.env.SCIDEX_RUN_JOURNAL_RETENTION || RUN_DEFAULTS.journalRetention,
    quiet: true,
  };
  if (raw.tracking === 'subreaper') throw new UsageError("invalid --tracking 'subreaper' for adopt: the subreaper backend sees only processes we start (use auto, cgroup or pgroup)");
  return { raw, pid, starttime, sinceStart: args.sinceStart === true };
}

function positiveInteger(text: string, what: string, meaning: string): number {
  if (!/^\d{1,10}$/.test(String(text).trim())) throw new UsageError(`invalid ${what} '${text}': expected ${meaning} (a positive integer)`);
  return Number(String(text).trim());
}

/** Starts the supervisor and waits for its word. */
function startSupervisor(request: AdoptRequest): Promise<Word> {
  const child = spawn(process.execPath, [WATCHDOG_BIN, 'adopt', String(request.pid), '--supervise'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [REQUEST_VARIABLE]: JSON.stringify(request) },
  });
  return new Promise<Word>((resolve) => {
    let text = '';
    const done = (word: Word): void => {
      clearTimeout(timer);
      child.stdio[3]?.destroy();
      child.unref();
      resolve(word);
    };
    const timer = setTimeout(() => done({ ok: false, message: `internal error: the supervisor (pid ${child.pid}) did not say within ${READY_TIMEOUT_MS / 1000} s whether the supervision is in place` }), READY_TIMEOUT_MS);
    child.on('error', (error) => done({ ok: false, message: `internal error: cannot start the supervisor: ${error.message}` }));
    const pipe = child.stdio[3]!;
    pipe.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      try {
        done(JSON.parse(text.slice(0, newline)) as Word);
      } catch {
        done({ ok: false, message: 'internal error: the supervisor said something unreadable' });
      }
    });
    pipe.on('end', () => done({ ok: false, message: `internal error: the supervisor (pid ${child.pid}) exited before the supervision was in place` }));
    pipe.on('error', () => undefined);
  });
}

/**
 * The supervisor: runs the adopted run to its end. Its word goes to fd 3 once, and fd 3 is closed
 * then. Children started before (the lifeline, a background reaper) inherit a copy of it, which
 * is harmless: the requester reads one line and closes its end; only a supervisor that died before
 * its word leaves the requester waiting for the lifeline's end (it reaps, then exits) or its timeout.
 */
async function supervise(): Promise<never> {
  // First of all, and for the process's whole life: without a listener, SIGUSR1 makes Node open its
  // inspector on 127.0.0.1:9229, where any local user could connect and run code as this supervisor
  // (root's, when root adopted). Node's own handler also makes `release` see the signal caught
  // before the Supervisor's handlers are in: a release that lands that early is found once the
  // supervision is in place (Supervisor.run), its request file still beside the marker.
  process.on('SIGUSR1', () => undefined);
  const text = process.env[REQUEST_VARIABLE];
  delete process.env[REQUEST_VARIABLE];
  let word: number | undefined = 3;
  // Whether the word reached the requester: EPIPE when it has gone (it gave up waiting, and told
  // its caller the process is not adopted), and then the supervision must not go on unseen.
  const say = (said: Word): boolean => {
    if (word === undefined) return false;
    let delivered = true;
    try {
      writeSync(word, JSON.stringify(said) + '\n');
    } catch {
      delivered = false;
    }
    try {
      closeSync(word);
    } catch {
      // Closed either way.
    }
    word = undefined;
    return delivered;
  };
  try {
    if (!text) throw new UsageError(`adopt --supervise is started by scidex-watchdog adopt only (no ${REQUEST_VARIABLE})`);
    const request = JSON.parse(text) as AdoptRequest;
    const config = buildRunConfig(request.raw, process.env);
    await launch(config, messagesFor('scidex-watchdog', true), {
      pid: request.pid,
      starttime: request.starttime,
      sinceStart: request.sinceStart,
      onStarted: ({ runId, pid, backend }) => say({ ok: true, run_id: runId, pid, backend }),
    });
  } catch (error) {
    say({ ok: false, message: error instanceof UsageError ? error.message : `internal error: ${(error as Error).message}` });
  }
  process.exit(0);
}
