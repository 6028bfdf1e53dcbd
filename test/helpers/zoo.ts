/**
 * The process zoo (scripts/zoo): hostile process trees, and how a test finds what is left of them.
 *
 * Every zoo process appends `<pid> <starttime>` to the file named by ZOO_PIDFILE, so a survivor is
 * found even when it cleared its environment (and the test tag with it). A pidfile line alone never
 * justifies a kill: the starttime is re-read right before every signal, and pids <= 1 are never signalled.
 */
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa, execaSync, type ResultPromise } from 'execa';
import { isDead, readStat } from '../../src/proc/stat.js';
import { availableBackends } from './lost-runs.js';
import { killSurvivors, tagged } from './processes.js';
import { armStallReport } from './stall.js';
import { until } from './until.js';
import { BIN, newStateDir } from './wrapper.js';

export const ZOO = fileURLToPath(new URL('../../scripts/zoo/', import.meta.url));

/** The interpreter behind `python3` (resolved once, so no pyenv shim runs in every test). */
export const PYTHON = execaSync('python3', ['-c', 'import sys; print(sys.executable)']).stdout.trim();

/** The command that runs a zoo program: `python3 -B scripts/zoo/<name>.py [args]` (-B: no __pycache__ in the repo). */
export function zooCommand(name: string, args: string[] = [], python = PYTHON): string[] {
  return [python, '-B', join(ZOO, `${name}.py`), ...args];
}

/** One line of a pidfile: a process, by its identity. */
export interface PidEntry {
  pid: number;
  starttime: number;
}

/** Owner of a pidfile written by processes of another user. */
export interface Owner {
  uid: number;
  gid: number;
}

const pidfiles: string[] = [];

/** A fresh, empty pidfile in a directory of its own (owned by `owner` when given). */
export function newPidfile(owner?: Owner): string {
  const dir = mkdtempSync(join(tmpdir(), 'scidex-zoo-'));
  const path = join(dir, 'pids');
  writeFileSync(path, '', { mode: 0o600 });
  if (owner) for (const entry of [dir, path]) chownSync(entry, owner.uid, owner.gid);
  pidfiles.push(path);
  return path;
}

/** The distinct processes a pidfile names, in order (an exec chain writes the same line more than once). */
export function readPidfile(path: string): PidEntry[] {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const seen = new Set<string>();
  const entries: PidEntry[] = [];
  for (const line of text.split('\n')) {
    if (!/^\d+ \d+$/.test(line) || seen.has(line)) continue;
    seen.add(line);
    const [pid, starttime] = line.split(' ').map(Number);
    entries.push({ pid, starttime });
  }
  return entries;
}

/** True while this very process (same pid, same starttime) is alive and not a zombie. */
export function alive({ pid, starttime }: PidEntry): boolean {
  if (pid <= 1) return false;
  const stat = readStat(pid);
  return stat !== undefined && stat.starttime === starttime && !isDead(stat);
}

/** The entry's process as proc(5) stat shows it now, when its pid still has its starttime (a zombie too). */
export function statOf({ pid, starttime }: PidEntry): ReturnType<typeof readStat> {
  const stat = pid > 1 ? readStat(pid) : undefined;
  return stat?.starttime === starttime ? stat : undefined;
}

/** The processes of the pidfile still alive (same starttime, not zombies). */
export function liveFromPidfile(path: string): PidEntry[] {
  return readPidfile(path).filter(alive);
}

function signal(entry: PidEntry, name: NodeJS.Signals): void {
  if (!alive(entry)) return;
  try {
    process.kill(entry.pid, name);
  } catch {
    // Gone between the check and the signal.
  }
}

/**
 * SIGKILLs what is left of a pidfile and returns it. A fork storm keeps forking, so it goes in
 * rounds: stop every live process (a stopped process cannot fork), then kill, until a round finds
 * nothing (children forked just before a stop write their line and are caught by the next round).
 */
export async function killPidfileSurvivors(path: string): Promise<PidEntry[]> {
  const killed = new Map<string, PidEntry>();
  for (let quiet = 0, round = 0; round < 200; round++) {
    const live = liveFromPidfile(path);
    if (live.length === 0 && (killed.size === 0 || ++quiet > 3)) break;
    if (live.length > 0) quiet = 0;
    for (const entry of live) signal(entry, 'SIGSTOP');
    for (const entry of live) {
      signal(entry, 'SIGKILL');
      killed.set(`${entry.pid} ${entry.starttime}`, entry);
    }
    await sleep(50);
  }
  return [...killed.values()];
}

/** For afterEach: kills the survivors of every pidfile made so far (a test that threw left them). */
export async function killAllPidfileSurvivors(): Promise<void> {
  for (const path of pidfiles) await killPidfileSurvivors(path);
}

/** The backends `bin/scidex-run --explain-tracking --json` reports available (throws if it fails). */
export async function backendsAvailable(): Promise<string[]> {
  return availableBackends();
}

/** How long runZoo waits for ZooOptions.cancelWhen, milliseconds: under a test's default 60 s. */
const CANCEL_WHEN_MS = 30_000;

/** Options of one zoo run. */
export interface ZooOptions {
  tag: string;
  /** Runs `[...via, BIN, ...args]` instead of BIN: `unshare ...`, `runuser -u nobody -- node`. */
  via?: string[];
  stateDir?: string;
  /** Owner of the pidfile, for zoo processes of another user. */
  owner?: Owner;
  /**
   * Cancels the run (SIGTERM to the wrapper) once this holds of the pidfile's entries, every process
   * the tree has made so far (polled every 100 ms): a run stopped when what it asserts is in place,
   * not by a timeout that a starved start could reach first.
   */
  cancelWhen?: (entries: PidEntry[]) => boolean;
}

/** What a zoo run left. */
export interface ZooRun {
  exitCode: number | null;
  stderr: string;
  stateDir: string;
  pidfile: string;
  /** Pidfile processes alive ~3 s after the wrapper exited (killed since). */
  survivors: PidEntry[];
  /** Processes carrying the test tag alive then (killed since). */
  taggedSurvivors: number[];
}

/**
 * Runs the wrapper (`args` are its own, the command included) with ZOO_PIDFILE set, waits for the
 * wrapper to exit, gives dying processes up to ~3 s, then notes and kills whatever is left. The
 * wrapper's exit event is awaited rather than its promise: a survivor holding its stdout pipe would
 * keep the promise pending.
 */
export async function runZoo(args: string[], options: ZooOptions): Promise<ZooRun> {
  const pidfile = newPidfile(options.owner);
  const stateDir = options.stateDir ?? newStateDir();
  const [file, ...rest] = [...(options.via ?? []), BIN, ...args];
  const wrapper = execa(file, rest, {
    reject: false,
    stdin: 'ignore',
    // A cancel's termination sequence (a grace period, a storm frozen and rescanned) can outlast
    // execa's default 5 s before its own SIGKILL on a loaded host: the wrapper must finish it.
    forceKillAfterDelay: false,
    env: {
      SCIDEX_RUN_STATE_DIR: stateDir,
      DATABASE_URL: undefined,
      PGHOST: undefined,
      PGDATABASE: undefined,
      PYTHONDONTWRITEBYTECODE: '1',
      ZOO_PIDFILE: pidfile,
      SCIDEX_TEST_TAG: options.tag,
    },
  }) as ResultPromise<{ reject: false }>;
  const disarm = armStallReport(wrapper.pid, stateDir, () => liveFromPidfile(pidfile).map((entry) => entry.pid));
  const exited = Promise.race([once(wrapper, 'exit'), wrapper]);
  const { cancelWhen } = options;
  let unmet = false;
  if (cancelWhen) {
    let over = false;
    void exited.then(() => (over = true));
    // Bounded under a test's 60 s: a tree that never gets up is cancelled all the same, cleaned up
    // below, and then reported, never left to its --timeout.
    unmet = !(await until('the condition to cancel the zoo run', () => over || cancelWhen(readPidfile(pidfile)), CANCEL_WHEN_MS, { every: 100, onTimeout: 'return' }));
    if (!over) wrapper.kill('SIGTERM');
  }
  await exited;
  disarm();
  // Bounded: what is still alive after 3 s is a survivor, noted and killed below.
  await until('the processes of the zoo run to end', () => liveFromPidfile(pidfile).length === 0 && tagged(options.tag).length === 0, 3000, {
    every: 100,
    onTimeout: 'return',
  });
  const survivors = liveFromPidfile(pidfile);
  const taggedSurvivors = tagged(options.tag);
  await killPidfileSurvivors(pidfile);
  await killSurvivors(options.tag);
  const patience = new AbortController();
  const result = await Promise.race([wrapper, sleep(10_000, undefined, { signal: patience.signal }).catch(() => undefined)]);
  patience.abort();
  if (unmet) throw new Error(`the zoo run's tree was not up within ${CANCEL_WHEN_MS / 1000} s (pidfile: ${readPidfile(pidfile).length} entries); it was cancelled and cleaned up`);
  return {
    exitCode: wrapper.exitCode,
    stderr: result ? String(result.stderr) : '(stderr unavailable: its pipe is still held)',
    stateDir,
    pidfile,
    survivors,
    taggedSurvivors,
  };
}

/** Who can run the zoo as the unprivileged user nobody, or why not. */
export type Nobody = { owner: Owner; python: string; skip?: undefined } | { skip: string };

/**
 * Checks that nobody exists, that we may switch to it (root with runuser), and that nobody can
 * load bin/scidex-run and run a python3 and the zoo from this checkout (nothing is copied).
 */
export async function nobodyRunner(): Promise<Nobody> {
  if (process.getuid?.() !== 0) return { skip: 'not running as root' };
  const id = await execa('id', ['-u', 'nobody'], { reject: false });
  if (id.exitCode !== 0) return { skip: 'no user nobody' };
  const gid = await execa('id', ['-g', 'nobody'], { reject: false });
  const asNobody = (command: string[]) => execa('runuser', ['-u', 'nobody', '--', ...command], { reject: false, stdin: 'ignore' });
  const runuser = await asNobody(['true']).catch(() => undefined);
  if (runuser?.exitCode !== 0) return { skip: 'runuser -u nobody does not work here' };
  const bin = await asNobody([process.execPath, BIN, '--explain-tracking']);
  if (bin.exitCode !== 0) return { skip: `nobody cannot run ${BIN} from this checkout: ${bin.stderr.split('\n')[0]}` };
  for (const python of [PYTHON, '/usr/bin/python3', '/usr/local/bin/python3']) {
    const check = await asNobody([python, '-B', '-c', `import sys; sys.path.insert(0, ${JSON.stringify(ZOO)}); import zoolib`]);
    if (check.exitCode === 0) return { owner: { uid: Number(id.stdout), gid: Number(gid.stdout) }, python };
  }
  return { skip: `nobody cannot run python3 with ${ZOO}` };
}
