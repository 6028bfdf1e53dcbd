// Benchmarks of issue 3: the tracking backends, side by side with their peers in one process.
//
//   1. ticks:  per backend, the cost of one tracking scan for trees of 1, 20 and 500 processes;
//   2. kill:   per backend, terminateTree from the kill decision to an empty tree, for a 500-process
//              fan-out and for a fork storm, with the survivors (must be 0);
//   3. peers:  the same zoo programs (scripts/zoo) under `timeout -k`, execa with a group kill, and
//              scidex-run itself with each backend: how many processes each leaves behind, and the
//              time from the kill decision to an empty tree.
//
// Bundled on the fly by scripts/bench/run.mjs (`node scripts/bench/run.mjs --only tracking`) into
// dist/bench/tracking.mjs. Prints a Markdown report on stdout, progress on stderr.
//
// Safety: every process started here carries SCIDEX_BENCH_TAG=<uuid> (except the env-clearing daemon,
// which is known from its pidfile line), every zoo process writes `<pid> <starttime>` to a pidfile, and
// survivors are killed one by one by (pid, starttime) through src/terminate/guard (pidfds). Nothing is
// killed by name. The only group kill is the execa peer's own technique, kill(-pgid) with pgid > 1
// taken from a leader that is verified (pid, starttime, pgid == pid) right before. At the end, every
// pidfile and the whole /proc are checked for survivors: the process exits 1 if any.
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa, execaSync, type ResultPromise } from 'execa';
import { cgroup2MountPoint } from '../../src/proc/cgroup.js';
import { readCmdline } from '../../src/proc/cmdline.js';
import { hasEnvEntry } from '../../src/proc/environ.js';
import { listPids } from '../../src/proc/list.js';
import { isDead, readStat } from '../../src/proc/stat.js';
import { reapAdoptedZombies } from '../../src/supervise/adopted.js';
import { spawnLeader, type Leader } from '../../src/supervise/spawn.js';
import { signalMember } from '../../src/terminate/guard.js';
import { terminateTree } from '../../src/terminate/sequence.js';
import { openTracker, setUpTracking, type RunFacts, type TrackingSetup } from '../../src/track/select.js';
import type { Tracker, TrackingBackend } from '../../src/track/tracker.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/scidex-run');
const ZOO = join(ROOT, 'scripts/zoo');
/** The interpreter itself, not a shim (pyenv's `python3` is a bash script that forks helpers). */
const PYTHON = execaSync('python3', ['-c', 'import sys; print(sys.executable)']).stdout.trim();

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const REPS = Number(option('reps') ?? 3);
const PEER_RUNS = Number(option('peer-runs') ?? 1);
const ONLY = option('part');
const wanted = (part: string): boolean => ONLY === undefined || ONLY.split(',').includes(part);

const TAG_NAME = 'SCIDEX_BENCH_TAG';
const TAG_VALUE = randomUUID();
const TAG = `${TAG_NAME}=${TAG_VALUE}`;
const WORK = mkdtempSync(join(tmpdir(), 'scidex-bench-tracking-'));
const OWN_STARTTIME = readStat(process.pid)!.starttime;

/** Our environment for every child: no database, no outer run, our tag, no .pyc written into scripts/zoo. */
const baseEnv: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', [TAG_NAME]: TAG_VALUE };
for (const name of Object.keys(baseEnv)) {
  if (name === 'DATABASE_URL' || name.startsWith('PG') || name.startsWith('SCIDEX_RUN') || name === 'SCIDEX_ANALYSIS_ID') delete baseEnv[name];
}

const log = (line: string): void => void process.stderr.write(`bench(tracking): ${line}\n`);
const wallMs = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// Identity, survivors and clean-up

interface Proc {
  pid: number;
  starttime: number;
}

const pidfiles: string[] = [];
/** Run ids of every run started (in process and through the CLI), to check their cgroups are gone. */
const runIds = new Set<string>();
let pidfileCount = 0;
function newPidfile(label: string): string {
  const path = join(WORK, `${String(++pidfileCount).padStart(3, '0')}-${label.replace(/[^a-z0-9]+/gi, '_')}.pids`);
  pidfiles.push(path);
  return path;
}

/** The complete `<pid> <starttime>` lines of a pidfile (a line being written is skipped). */
function entries(pidfile: string): Proc[] {
  let text: string;
  try {
    text = readFileSync(pidfile, 'latin1');
  } catch {
    return [];
  }
  const out: Proc[] = [];
  // The last element is '' after a final newline, or a line still being written: skipped either way.
  for (const line of text.split('\n').slice(0, -1)) {
    const match = /^(\d+) (\d+)$/.exec(line);
    if (match) out.push({ pid: Number(match[1]), starttime: Number(match[2]) });
  }
  return out;
}

/** Alive = the pid shows the same starttime and is not a zombie. */
function isAlive(proc: Proc): boolean {
  const stat = readStat(proc.pid);
  return stat !== undefined && stat.starttime === proc.starttime && !isDead(stat);
}

/** Live processes carrying our tag, wherever they are (not ourselves). */
function taggedAlive(): Proc[] {
  const out: Proc[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid || !hasEnvEntry(pid, TAG)) continue;
    const stat = readStat(pid);
    if (stat && !isDead(stat)) out.push({ pid, starttime: stat.starttime });
  }
  return out;
}

/** Live processes of the given pidfiles plus tagged ones, deduplicated. */
function survivorsOf(files: readonly string[]): Proc[] {
  const byKey = new Map<string, Proc>();
  for (const file of files) for (const proc of entries(file)) if (isAlive(proc)) byKey.set(`${proc.pid}:${proc.starttime}`, proc);
  for (const proc of taggedAlive()) byKey.set(`${proc.pid}:${proc.starttime}`, proc);
  return [...byKey.values()];
}

/** Children libuv waits for (execa/spawnLeader leaders not yet seen exiting): never reaped by us. */
const spawned = new Set<number>();
let subreaper = false;
function reap(): void {
  if (subreaper) reapAdoptedZombies([...spawned]);
}

function track<T extends { pid?: number }>(child: T): T {
  if (child.pid !== undefined) spawned.add(child.pid);
  return child;
}

function describe(proc: Proc): string {
  const stat = readStat(proc.pid);
  const argv = readCmdline(proc.pid)
    .map((word) => word.replace(`${ZOO}/`, ''))
    .join(' ');
  if (!stat) return `pid ${proc.pid} (gone)`;
  const session = stat.sid === proc.pid ? 'own session' : `session ${stat.sid}`;
  const env = hasEnvEntry(proc.pid, TAG) ? 'environment kept' : 'environment cleared';
  return `pid ${proc.pid} \`${argv}\` (ppid ${stat.ppid}, ${session}, ${env})`;
}

/**
 * Kills `procs` one by one by (pid, starttime), and whatever of `files` and of the tag is alive after
 * them: a survivor of a fork storm keeps forking, so each round stops (SIGSTOP) every live process
 * until no new one shows up, then SIGKILLs them all, until none is alive (at most 10 s).
 * @returns those still alive at the end
 */
async function killByPid(procs: readonly Proc[], files: readonly string[] = []): Promise<Proc[]> {
  const find = (): Proc[] => {
    const byKey = new Map<string, Proc>();
    for (const proc of procs) if (isAlive(proc)) byKey.set(`${proc.pid}:${proc.starttime}`, proc);
    for (const proc of survivorsOf(files)) byKey.set(`${proc.pid}:${proc.starttime}`, proc);
    return [...byKey.values()];
  };
  const end = performance.now() + 10_000;
  let left = find();
  while (left.length > 0 && performance.now() < end) {
    const stopped = new Set<string>();
    for (let round = 0; round < 20; round++) {
      const fresh = left.filter((proc) => !stopped.has(`${proc.pid}:${proc.starttime}`));
      if (fresh.length === 0) break;
      for (const proc of fresh) {
        signalMember(proc, 'SIGSTOP');
        stopped.add(`${proc.pid}:${proc.starttime}`);
      }
      left = find();
    }
    for (const proc of left) signalMember(proc, 'SIGKILL');
    await sleep(30);
    reap();
    left = find();
  }
  return left;
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
};
const median = (values: readonly number[]): number => quantile(values, 0.5);
const us = (value: number): string => (Number.isNaN(value) ? '—' : value >= 10_000 ? `${(value / 1000).toFixed(1)} ms` : `${Math.round(value)} µs`);
const ms = (value: number | undefined): string => (value === undefined || Number.isNaN(value) ? '—' : `${Math.round(value)} ms`);

// ---------------------------------------------------------------------------------------------
// Part 1 and 2: trackers in this process

interface Tree {
  backend: TrackingBackend;
  setup: TrackingSetup;
  facts: RunFacts;
  tracker: Tracker;
  leader: Leader;
  pidfile: string;
}

/** Sets up `backend` as src/supervise does, spawns `command` in it and opens its tracker. */
async function openTree(backend: TrackingBackend, command: string[], label: string): Promise<Tree> {
  const runId = randomUUID();
  runIds.add(runId);
  const setup = setUpTracking(backend, runId);
  if (backend === 'subreaper') subreaper = true;
  const pidfile = newPidfile(`${backend}-${label}`);
  const env = { ...baseEnv, SCIDEX_RUN_ID: runId, ZOO_PIDFILE: pidfile };
  const leader = await spawnLeader(command, env, setup.cgroup);
  if (!('pid' in leader)) {
    setup.cgroup?.remove();
    throw new Error(`cannot start ${command.join(' ')}: ${leader.message}`);
  }
  spawned.add(leader.pid);
  void leader.exited.then(() => spawned.delete(leader.pid));
  const facts: RunFacts = { leaderPid: leader.pid, cookie: `SCIDEX_RUN_ID=${runId}`, minStarttime: OWN_STARTTIME, excludePids: [] };
  const tracker = openTracker(setup, facts);
  tracker.scan();
  return { backend, setup, facts, tracker, leader, pidfile };
}

/** Waits until the tracker sees at least `count` live members, and the pidfile as many. @returns the count seen */
async function waitSeen(tree: Tree, count: number, timeoutMs: number): Promise<number> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    reap();
    const alive = tree.tracker.scan().alive.length;
    if ((alive >= count && entries(tree.pidfile).length >= count) || performance.now() > end) return alive;
    await sleep(20);
  }
}

/** Ends a tree whatever happened (terminateTree with SIGKILL), waits for the leader, checks and cleans up. */
async function closeTree(tree: Tree): Promise<Proc[]> {
  await terminateTree(tree.tracker, { signal: 'SIGKILL', graceMs: 0, hooks: { onSignal() {}, onEnded() {} } });
  await Promise.race([tree.leader.exited, sleep(5000)]);
  reap();
  await sleep(200);
  reap();
  const left = survivorsOf([tree.pidfile]);
  if (left.length > 0) await killByPid(left, [tree.pidfile]);
  tree.tracker.release();
  return left;
}

interface TickRow {
  backend: TrackingBackend;
  size: number;
  ticks: number;
  median: number;
  p95: number;
  cold: number;
}

function timeTicks(tracker: Tracker, count: number, expect: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const snapshot = tracker.scan();
    out.push((performance.now() - start) * 1000);
    if (snapshot.alive.length !== expect) throw new Error(`tick saw ${snapshot.alive.length} members, expected ${expect}: ${membersText(snapshot.alive)}`);
  }
  return out;
}

function membersText(members: readonly { pid: number; ppid: number; argv: string[]; foundBy: string }[]): string {
  return members.slice(0, 8).map((m) => `${m.pid} (ppid ${m.ppid}, ${m.foundBy}) ${m.argv.join(' ')}`).join('; ');
}

/** A fresh tracker's first scan: every member admitted (cmdline read) at once. */
function timeColdScans(tree: Tree, count: number, expect: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const tracker = openTracker(tree.setup, tree.facts);
    const start = performance.now();
    const snapshot = tracker.scan();
    out.push((performance.now() - start) * 1000);
    if (snapshot.alive.length !== expect) throw new Error(`cold scan saw ${snapshot.alive.length} members, expected ${expect}: ${membersText(snapshot.alive)}`);
  }
  return out;
}

const fanout = (processes: number): string[] => [PYTHON, join(ZOO, 'fanout.py'), String(processes - 1)];
const STORM = [PYTHON, join(ZOO, 'fork_storm.py')];
/** How old the storm is at the kill decision (in process): the peers' deadline. */
const STORM_AGE_MS = 2000;

interface KillVariant {
  signal: NodeJS.Signals;
  graceMs: number;
}
const VARIANTS: KillVariant[] = [
  { signal: 'SIGTERM', graceMs: 200 },
  { signal: 'SIGKILL', graceMs: 0 },
];

interface KillRow {
  backend: TrackingBackend;
  tree: string;
  variant: KillVariant;
  atDecision: number[];
  times: number[];
  killed: number[];
  survivors: number;
  details: string[];
}

/** Times terminateTree on an open tree; checks the pidfile and the tag for survivors afterwards. */
async function timeKill(tree: Tree, variant: KillVariant, row: KillRow): Promise<void> {
  const atDecision = tree.tracker.scan().alive.length;
  const start = performance.now();
  const result = await terminateTree(tree.tracker, {
    signal: variant.signal,
    graceMs: variant.graceMs,
    hooks: { onSignal() {}, onEnded() {} },
  });
  const elapsed = performance.now() - start;
  const liveAtReturn = entries(tree.pidfile).filter(isAlive);
  await Promise.race([tree.leader.exited, sleep(5000)]);
  reap();
  await sleep(300);
  reap();
  const left = survivorsOf([tree.pidfile]);
  row.atDecision.push(atDecision);
  row.times.push(elapsed);
  row.killed.push(result.killed);
  if (result.survivors.length > 0) row.details.push(`terminateTree reported ${result.survivors.length} unkillable`);
  if (liveAtReturn.length > 0) row.details.push(`${liveAtReturn.length} pidfile processes still alive when terminateTree returned`);
  if (left.length > 0) {
    row.survivors += left.length;
    const adopted = left.filter((proc) => readStat(proc.pid)?.ppid === process.pid).length;
    const stopped = left.filter((proc) => readStat(proc.pid)?.state === 'T').length;
    row.details.push(
      `run ${row.times.length}: ${left.length} survivors after terminateTree returned (${stopped} of them stopped, ${adopted} children of the bench); e.g. ${left.slice(0, 2).map(describe).join('; ')}`,
    );
    const stubborn = await killByPid(left, [tree.pidfile]);
    if (stubborn.length > 0) row.details.push(`could not kill ${stubborn.map((p) => p.pid).join(', ')}`);
  }
  tree.tracker.release();
}

async function trackerParts(backends: TrackingBackend[]): Promise<{ ticks: TickRow[]; kills: KillRow[] }> {
  const ticks: TickRow[] = [];
  const kills: KillRow[] = [];
  // subreaper last: prctl(PR_SET_CHILD_SUBREAPER) cannot be undone for this process.
  const ordered = [...backends].sort((a, b) => Number(a === 'subreaper') - Number(b === 'subreaper'));
  for (const backend of ordered) {
    if (wanted('ticks')) {
      for (const size of [1, 20]) {
        log(`${backend}: ticks, tree of ${size}`);
        const tree = await openTree(backend, fanout(size), `ticks-${size}`);
        try {
          const seen = await waitSeen(tree, size, 30_000);
          if (seen < size) throw new Error(`${backend}: the tracker saw ${seen} of ${size}`);
          await sleep(100);
          const samples = timeTicks(tree.tracker, 200, size);
          const cold = timeColdScans(tree, 10, size);
          ticks.push({ backend, size, ticks: samples.length, median: median(samples), p95: quantile(samples, 0.95), cold: median(cold) });
        } finally {
          const left = await closeTree(tree);
          if (left.length > 0) log(`${backend}: ${left.length} survivors after the tick tree of ${size} (killed by pid)`);
        }
      }
    }
    if (wanted('kill') || wanted('ticks')) {
      for (const variant of wanted('kill') ? VARIANTS : [VARIANTS[0]]) {
        const row: KillRow = { backend, tree: 'fan-out, 500 processes', variant, atDecision: [], times: [], killed: [], survivors: 0, details: [] };
        for (let rep = 0; rep < (wanted('kill') ? REPS : 1); rep++) {
          log(`${backend}: fan-out 500, ${variant.signal} grace ${variant.graceMs} ms, run ${rep + 1}`);
          const tree = await openTree(backend, fanout(500), 'fanout-500');
          try {
            const seen = await waitSeen(tree, 500, 60_000);
            if (seen < 500) throw new Error(`${backend}: the tracker saw ${seen} of 500`);
            await sleep(100);
            if (rep === 0 && variant === VARIANTS[0] && wanted('ticks')) {
              log(`${backend}: ticks, tree of 500`);
              const samples = timeTicks(tree.tracker, 50, 500);
              const cold = timeColdScans(tree, 5, 500);
              ticks.push({ backend, size: 500, ticks: samples.length, median: median(samples), p95: quantile(samples, 0.95), cold: median(cold) });
            }
            if (!wanted('kill')) {
              await closeTree(tree);
              continue;
            }
            await timeKill(tree, variant, row);
          } catch (error) {
            await closeTree(tree);
            throw error;
          }
        }
        if (wanted('kill')) kills.push(row);
      }
    }
    if (wanted('kill')) {
      for (const variant of VARIANTS) {
        const row: KillRow = { backend, tree: 'fork storm (~300, ignores SIGTERM)', variant, atDecision: [], times: [], killed: [], survivors: 0, details: [] };
        for (let rep = 0; rep < REPS; rep++) {
          log(`${backend}: fork storm, ${variant.signal} grace ${variant.graceMs} ms, run ${rep + 1}`);
          const tree = await openTree(backend, STORM, 'storm');
          try {
            // As old as under the peers' 2 s deadline: its first processes have exited and their
            // children re-parented (to init, or to us as subreaper), so the tree churns.
            const born = performance.now();
            await waitSeen(tree, 250, 4000);
            while (performance.now() - born < STORM_AGE_MS) {
              reap();
              tree.tracker.scan();
              await sleep(100);
            }
            await timeKill(tree, variant, row);
          } catch (error) {
            await closeTree(tree);
            throw error;
          }
        }
        kills.push(row);
      }
    }
  }
  return { ticks, kills };
}

// ---------------------------------------------------------------------------------------------
// Part 3: peers on the zoo

interface Program {
  name: string;
  argv: string[];
  /** Whether the time from the kill decision to an empty tree is reported for it. */
  timed: boolean;
}

const PROGRAMS: Program[] = [
  { name: 'fan-out, 500 processes', argv: fanout(500), timed: true },
  { name: 'fork storm (ignores SIGTERM)', argv: STORM, timed: true },
  { name: 'double-fork setsid daemon (keeps its environment)', argv: [PYTHON, join(ZOO, 'double_fork_daemon.py')], timed: false },
  { name: 'environment-clearing setsid daemon (leader exits at once)', argv: [PYTHON, join(ZOO, 'clearenv_daemon.py')], timed: false },
  { name: 'setpgid escape (child + grandchild in a new group)', argv: [PYTHON, join(ZOO, 'setpgid_escape.py')], timed: false },
];

type Peer = { kind: 'timeout' } | { kind: 'execa' } | { kind: 'cli'; backend: TrackingBackend };
const peerName = (peer: Peer): string =>
  peer.kind === 'timeout' ? '`timeout -k 1 2`' : peer.kind === 'execa' ? 'execa, group kill' : `scidex-run \`--tracking ${peer.backend}\``;

interface PeerRun {
  survivors: Proc[];
  descriptions: string[];
  toEmptyMs?: number;
  processes: number;
  exit: string;
  note?: string;
}

const DEADLINE_MS = 2000;
const GRACE_MS = 1000;
const SAMPLE_MS = 20;

/** kill(-pgid) for the execa peer: only while the leader (pid, starttime) is unreaped and still leads its group. */
function killGroupOf(leader: Proc, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(leader.pid) || leader.pid <= 1) throw new Error(`refusing to signal group ${leader.pid}`);
  const stat = readStat(leader.pid);
  if (!stat || stat.starttime !== leader.starttime || stat.pgid !== leader.pid) return false;
  try {
    process.kill(-leader.pid, signal);
    return true;
  } catch {
    return false;
  }
}

function journalEvents(stateDir: string): { kind: string; at: string; detail?: { tracking?: { backend?: string } } }[] {
  const dir = join(stateDir, 'journal');
  if (!existsSync(dir)) return [];
  const file = readdirSync(dir).find((name) => name.endsWith('.jsonl'));
  if (!file) return [];
  return readFileSync(join(dir, file), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { table: string; record: { kind: string; at: string } })
    .filter((entry) => entry.table === 'events')
    .map((entry) => entry.record);
}

async function runPeer(peer: Peer, program: Program): Promise<PeerRun> {
  const pidfile = newPidfile(`${peer.kind}${peer.kind === 'cli' ? `-${peer.backend}` : ''}-${program.argv[1].split('/').pop()}`);
  const env: NodeJS.ProcessEnv = { ...baseEnv, ZOO_PIDFILE: pidfile };
  const stderrFile = `${pidfile}.stderr`;
  const stderrFd = openSync(stderrFile, 'w');
  const tSpawn = wallMs();
  let decision: number | undefined;
  let child: ResultPromise;
  let stateDir: string | undefined;
  const timers: NodeJS.Timeout[] = [];
  // execa accepts a file descriptor at run time (its types do not say so): the tree inherits a file, never a pipe.
  const stdio = ['ignore', 'ignore', stderrFd] as unknown as ['ignore', 'ignore', 'ignore'];
  const options = { env, extendEnv: false, stdio, reject: false } as const;
  switch (peer.kind) {
    case 'timeout':
      child = track(execa('timeout', ['-k', String(GRACE_MS / 1000), String(DEADLINE_MS / 1000), ...program.argv], options));
      break;
    case 'execa': {
      child = track(execa(program.argv[0], program.argv.slice(1), { ...options, detached: true, cleanup: false }));
      const leader: Proc = { pid: child.pid!, starttime: readStat(child.pid!)?.starttime ?? -1 };
      timers.push(
        setTimeout(() => {
          if (!killGroupOf(leader, 'SIGTERM')) return;
          decision = wallMs();
          timers.push(setTimeout(() => killGroupOf(leader, 'SIGKILL'), GRACE_MS));
        }, DEADLINE_MS),
      );
      break;
    }
    case 'cli':
      stateDir = mkdtempSync(join(WORK, 'state-'));
      child = track(
        execa(BIN, ['--quiet', '--tracking', peer.backend, '--timeout', `${DEADLINE_MS / 1000}s`, '--grace', `${GRACE_MS / 1000}s`, '--', ...program.argv], {
          ...options,
          env: { ...env, SCIDEX_RUN_STATE_DIR: stateDir },
        }),
      );
      break;
  }
  const childPid = child.pid;
  closeSync(stderrFd);

  // Sample the pidfile's live processes from just before the deadline until they stop changing.
  const samples: { at: number; live: number }[] = [];
  let done = false;
  const result = child.then((value) => {
    done = true;
    if (childPid !== undefined) spawned.delete(childPid);
    for (const timer of timers) clearTimeout(timer);
    return value;
  });
  const candidates = new Map<string, Proc>();
  const deadKeys = new Set<string>();
  let lastChange = performance.now();
  let lastLive = -1;
  const sample = (): number => {
    for (const proc of entries(pidfile)) {
      const key = `${proc.pid}:${proc.starttime}`;
      if (!candidates.has(key) && !deadKeys.has(key)) candidates.set(key, proc);
    }
    let live = 0;
    for (const [key, proc] of candidates) {
      if (isAlive(proc)) live++;
      else {
        candidates.delete(key);
        deadKeys.add(key);
      }
    }
    samples.push({ at: wallMs(), live });
    if (live !== lastLive) {
      lastLive = live;
      lastChange = performance.now();
    }
    return live;
  };
  const sampleFrom = tSpawn + DEADLINE_MS - 100;
  const settleEnd = (): boolean => performance.now() - lastChange > 400;
  for (let waitedAfterDone = 0; ; ) {
    const now = wallMs();
    if (now >= sampleFrom || done) sample();
    if (done) {
      waitedAfterDone += SAMPLE_MS;
      if (settleEnd() || waitedAfterDone > 4000) break;
    }
    await sleep(SAMPLE_MS);
    reap();
  }
  const finished = await result;
  const survivors = entries(pidfile).filter(isAlive);
  for (const proc of taggedAlive()) if (!survivors.some((s) => s.pid === proc.pid && s.starttime === proc.starttime)) survivors.push(proc);

  let note: string | undefined;
  // timeout(1) exits 124 after its TERM, or dies of its own group SIGKILL after -k.
  if (peer.kind === 'timeout' && (finished.exitCode === 124 || finished.signal === 'SIGKILL')) decision = tSpawn + DEADLINE_MS;
  if (peer.kind === 'cli') {
    const events = journalEvents(stateDir!);
    const limit = events.find((event) => event.kind === 'limit_exceeded');
    if (limit) decision = Date.parse(limit.at);
    for (const name of readdirSync(join(stateDir!, 'journal'))) if (name.endsWith('.jsonl')) runIds.add(name.slice(0, -6));
    const backend = events.find((event) => event.kind === 'run_started')?.detail?.tracking?.backend;
    if (backend !== peer.backend) note = `journal names backend ${backend}`;
  }
  let toEmptyMs: number | undefined;
  if (decision !== undefined && program.timed) {
    const firstEmpty = samples.findIndex((s, i) => s.at >= decision! && samples.slice(i).every((later) => later.live <= survivors.length));
    if (firstEmpty >= 0) toEmptyMs = Math.max(0, samples[firstEmpty].at - decision);
  }
  const stderr = readFileSync(stderrFile, 'utf8').trim();
  if (stderr && peer.kind === 'cli') note = [note, `stderr: ${stderr.split('\n')[0]}`].filter(Boolean).join('; ');
  const descriptions = survivors.map(describe);
  const stubborn = await killByPid(survivors, [pidfile]);
  if (stubborn.length > 0) throw new Error(`could not kill ${stubborn.map((p) => p.pid).join(', ')}`);
  return {
    survivors,
    descriptions,
    toEmptyMs,
    processes: entries(pidfile).length,
    exit: finished.signal ? finished.signal : String(finished.exitCode),
    note,
  };
}

async function peerPart(backends: TrackingBackend[]): Promise<{ peers: Peer[]; results: Map<string, PeerRun[]> }> {
  const peers: Peer[] = [{ kind: 'timeout' }, { kind: 'execa' }, ...backends.map((backend) => ({ kind: 'cli' as const, backend }))];
  const results = new Map<string, PeerRun[]>();
  for (const program of PROGRAMS) {
    for (let run = 0; run < (program.timed ? PEER_RUNS : 1); run++) {
      for (const peer of peers) {
        log(`peers: ${program.name} under ${peerName(peer)}`);
        const key = `${program.name}\t${peerName(peer)}`;
        const outcome = await runPeer(peer, program);
        results.set(key, [...(results.get(key) ?? []), outcome]);
      }
    }
  }
  return { peers, results };
}

// ---------------------------------------------------------------------------------------------
// Main

async function explain(): Promise<{ backends: TrackingBackend[]; pidfd: boolean }> {
  const child = track(execa(BIN, ['--explain-tracking', '--json'], { env: baseEnv, extendEnv: false, reject: false }));
  const result = await child;
  spawned.delete(child.pid!);
  const report = JSON.parse(String(result.stdout)) as { backends: { backend: TrackingBackend; available: boolean }[]; pidfd: boolean };
  return { backends: report.backends.filter((b) => b.available).map((b) => b.backend), pidfd: report.pidfd };
}

async function main(): Promise<number> {
  const started = performance.now();
  const { backends: available, pidfd } = await explain();
  const only = option('backends')?.split(',') as TrackingBackend[] | undefined;
  const backends = available.filter((backend) => !only || only.includes(backend));
  log(`backends available: ${available.join(', ')}; benchmarking ${backends.join(', ')}; reps ${REPS}`);
  const hostProcesses = listPids().length;

  const out: string[] = [];
  const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;

  let peerResults: Awaited<ReturnType<typeof peerPart>> | undefined;
  if (wanted('peers')) peerResults = await peerPart(backends);
  const { ticks, kills } = wanted('ticks') || wanted('kill') ? await trackerParts(backends) : { ticks: [], kills: [] };

  out.push(`Backends available (\`bin/scidex-run --explain-tracking --json\`): ${available.join(', ')}; signals through pidfds: ${pidfd}. ` +
    `Processes on the host at start: ${hostProcesses}.`);
  out.push('');
  if (ticks.length > 0) {
    out.push('One tracking tick (`tracker.scan()` back to back on a settled tree of sleepers; cold = a fresh tracker\'s first scan, which admits every member and reads its cmdline):');
    out.push('');
    out.push(row(['backend', 'tree', 'ticks', 'median', 'p95', 'cold first scan (median)']));
    out.push('|---|---|---|---|---|---|');
    for (const t of ticks) out.push(row([t.backend, `${t.size} process${t.size === 1 ? '' : 'es'}`, t.ticks, us(t.median), us(t.p95), us(t.cold)]));
    out.push('');
  }
  if (kills.length > 0) {
    out.push(`Kill decision to empty tree (\`terminateTree\` in process, ${REPS} runs each; survivors from the pidfile and the tag, 300 ms after it returned):`);
    out.push('');
    out.push(row(['backend', 'tree', 'first signal, grace', 'members at decision (median)', 'to empty: median', 'max', 'SIGKILLed in kill passes (median)', 'survivors']));
    out.push('|---|---|---|---|---|---|---|---|');
    for (const k of kills) {
      const empty = k.survivors === 0;
      out.push(
        row([
          k.backend,
          k.tree,
          `${k.variant.signal}, ${k.variant.graceMs} ms`,
          Math.round(median(k.atDecision)),
          empty ? ms(median(k.times)) : `never (returned after ${ms(median(k.times))})`,
          ms(Math.max(...k.times)),
          Math.round(median(k.killed)),
          empty ? '0' : `**${k.survivors}** in ${k.times.length} runs`,
        ]),
      );
    }
    const notes = kills.flatMap((k) => k.details.map((d) => `- ${k.backend}, ${k.tree}, ${k.variant.signal}: ${d}`));
    if (notes.length > 0) out.push('', ...notes);
    out.push('');
  }
  if (peerResults) {
    const { peers, results } = peerResults;
    out.push(`Peers on the zoo (deadline ${DEADLINE_MS / 1000} s, grace ${GRACE_MS / 1000} s; survivors = pidfile processes alive with the same starttime, not zombies, once the tool has exited and the tree stopped changing):`);
    out.push('');
    out.push(row(['program', ...peers.map(peerName)]));
    out.push(`|---|${peers.map(() => '---|').join('')}`);
    for (const program of PROGRAMS) {
      out.push(
        row([
          `${program.name}: processes left`,
          ...peers.map((peer) => {
            const runs = results.get(`${program.name}\t${peerName(peer)}`) ?? [];
            const left = runs.map((r) => r.survivors.length);
            return left.length === 0 ? '—' : left.every((n) => n === 0) ? '0' : `**${left.join(', ')}**`;
          }),
        ]),
      );
    }
    for (const program of PROGRAMS.filter((p) => p.timed)) {
      out.push(
        row([
          `${program.name}: kill decision to empty`,
          ...peers.map((peer) => {
            const runs = results.get(`${program.name}\t${peerName(peer)}`) ?? [];
            return runs.length === 0
              ? '—'
              : runs.map((r) => (r.survivors.length > 0 ? `never (${r.survivors.length} left)` : ms(r.toEmptyMs))).join(', ');
          }),
        ]),
      );
    }
    out.push('');
    out.push('Survivors found (killed by pid afterwards), exit statuses and notes:');
    out.push('');
    for (const program of PROGRAMS) {
      for (const peer of peers) {
        for (const run of results.get(`${program.name}\t${peerName(peer)}`) ?? []) {
          const extra = [`exit ${run.exit}`, `${run.processes} processes in the pidfile`, run.note].filter(Boolean).join(', ');
          out.push(`- ${program.name} under ${peerName(peer)} (${extra}): ${run.survivors.length === 0 ? 'none left' : run.descriptions.join('; ')}`);
        }
      }
    }
    out.push('');
  }

  // Final check: nothing of ours is alive, no cgroup of ours is left.
  reap();
  let left = survivorsOf(pidfiles);
  if (left.length > 0) {
    log(`final check: ${left.length} survivors: ${left.map(describe).join('; ')}; killing them by pid`);
    await killByPid(left, pidfiles);
    left = survivorsOf(pidfiles);
  }
  const mount = cgroup2MountPoint();
  const cgroupsLeft = mount ? [...runIds].filter((id) => existsSync(join(mount, 'scidex-run', id))) : [];
  const entriesChecked = pidfiles.reduce((sum, file) => sum + entries(file).length, 0);
  out.push(
    `Final check: ${entriesChecked} pidfile entries in ${pidfiles.length} pidfiles and every process carrying the bench tag: ` +
      `${left.length} alive at exit. Cgroups of its ${runIds.size} runs left under ${mount ?? '(no cgroup2)'}/scidex-run: ${cgroupsLeft.length}. ` +
      `Part took ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  );
  console.log(out.join('\n'));
  rmSync(WORK, { recursive: true, force: true });
  if (cgroupsLeft.length > 0) console.error(`bench(tracking): cgroups left: ${cgroupsLeft.join(', ')}`);
  if (left.length > 0) {
    console.error(`bench(tracking): processes survived: ${left.map((p) => p.pid).join(', ')}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main().catch(async (error: unknown) => {
  console.error(`bench(tracking): ${(error as Error).stack ?? error}`);
  const left = survivorsOf(pidfiles);
  if (left.length > 0) {
    console.error(`bench(tracking): killing ${left.length} processes by pid after the failure`);
    const stubborn = await killByPid(left, pidfiles);
    console.error(`bench(tracking): ${stubborn.length} alive after that`);
  }
  rmSync(WORK, { recursive: true, force: true });
  return 1;
});
