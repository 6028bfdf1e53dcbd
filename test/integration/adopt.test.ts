/**
 * `scidex-watchdog adopt` and `release`: real processes started by the test (so not the adopter's
 * children), adopted by the real CLI, supervised by its detached supervisor, recorded in the
 * journal and a real PostgreSQL. The test is the processes' parent and reaps them, so the kernel
 * tells the adopter how they ended (PIDFD_INFO_EXIT, Linux 6.15) where it can; one case keeps a
 * process unreaped to see an ending an adopter cannot know.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { processAlive } from '../../src/proc/liveness.js';
import { readStat } from '../../src/proc/stat.js';
import { listMarkers, readMarker } from '../../src/record/markers.js';
import { readChildren } from '../../src/proc/children.js';
import { readJournal } from '../../src/record/journal.js';
import type { EventRecord, ProcessRecord, RunRecord } from '../../src/record/types.js';
import { writeRecords } from '../../src/record/sql.js';
import { sharedClient } from '../helpers/database.js';
import { ownedTag, tagged } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { BIN, EXAMPLES, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { cgroupOf } from '../../src/proc/cgroup.js';
import { listPids } from '../../src/proc/list.js';
import { nobodyRunner } from '../helpers/zoo.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));
const tag = ownedTag();
/**
 * Each test runs several CLI processes one after the other (adopt, which starts a supervisor and its
 * lifeline; release, cancel, show), each up to seconds long on a host loaded by the suite itself: far
 * from the default 60 s when idle, too close to it there.
 */
const SEVERAL_STARTS = { timeout: 180_000 };
const db = sharedClient();
const nobodyCase = await nobodyRunner();
const root = nobodyCase.skip === undefined;
/** Whether this host lets the tests make a PID namespace (root, and unshare(1) allowed). */
const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;

/** A parent that forks two workers; all three sleep for five minutes. */
const FAMILY = 'import os, time\nfor _ in range(2):\n    if os.fork() == 0:\n        time.sleep(300)\n        os._exit(0)\nprint("ready", flush=True)\ntime.sleep(300)\n';

beforeAll(async () => {
  expect((await watchdog(['migrate'], newStateDir())).exitCode).toBe(0);
});

/** The real scidex-watchdog with the test's tag, state directory and database; never rejects. */
function watchdog(args: string[], stateDir: string, options: { database?: boolean; via?: string[]; env?: Record<string, string> } = {}) {
  const [file, ...rest] = [...(options.via ?? []), WATCHDOG, ...args, ...(options.database === false ? [] : ['--database-url', db.url])];
  return execa(file, rest, {
    reject: false,
    stdin: 'ignore',
    env: { SCIDEX_RUN_STATE_DIR: stateDir, DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_TEST_TAG: tag, ...options.env },
  });
}

/** A process of the test's own (its child, with the tag), to be adopted; resolves once it printed `ready` when `waitReady`. */
async function startProcess(
  command: string[],
  waitReady = false,
  ownSession = false,
  stdin = false,
): Promise<{ child: ChildProcess; pid: number; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; output: (pattern: RegExp) => Promise<RegExpExecArray> }> {
  const child = spawn(command[0], command.slice(1), { detached: ownSession, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'], env: { ...process.env, SCIDEX_TEST_TAG: tag, SCIDEX_RUN_ID: undefined } });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  // Everything it prints, kept from the start: a line printed before anyone waits for it is not lost.
  let printed = '';
  child.stdout!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  const output = (pattern: RegExp) => until(`${pattern} in the output of ${command.join(' ')}`, () => pattern.exec(printed) ?? undefined, 60_000);
  if (waitReady) await output(/ready/);
  return { child, pid: child.pid!, exited, output };
}

/** Adopts `pid`; returns the run id it printed. */
async function adopt(pid: number, stateDir: string, options: string[], env?: Record<string, string>): Promise<string> {
  const result = await watchdog(['adopt', String(pid), '--quiet', ...options], stateDir, { env });
  expect(result.exitCode, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/^[0-9a-f-]{36}$/);
  return result.stdout;
}

/** The run's records once its supervisor has finished it (its marker gone). */
async function finished(stateDir: string, runId: string, timeoutMs = 60_000) {
  await until(`run ${runId} to finish`, () => readMarker(stateDir, runId) === undefined, timeoutMs, { every: 50 });
  const { entries } = readJournal(join(stateDir, 'journal', `${runId}.jsonl`));
  const of = <T>(table: string) => entries.filter((entry) => entry.table === table).map((entry) => entry.record as T);
  const runs = of<RunRecord>('runs');
  return { run: runs.at(-1)!, events: of<EventRecord>('events'), processes: of<ProcessRecord>('processes') };
}

/**
 * Until the dead supervisor's lifeline and reaper have exited too: the reaper removes the marker,
 * then ships and cleans up, which took over the survivor check's 2 s once on a loaded host.
 */
async function reaperDone(): Promise<void> {
  await until('the reaper to exit', () => tagged(tag).length === 0, 60_000, { every: 100 });
}

async function databaseRow(runId: string): Promise<RunRecord & { adopted: boolean }> {
  return until('the final run row in PostgreSQL', async () => {
    const result = await db.client().query(`SELECT * FROM watchdog_runs WHERE id = $1 AND status <> 'running'`, [runId]);
    return result.rows[0];
  });
}

/** The pids of the children of `pid`. */
function childrenOf(pid: number): number[] {
  return readChildren(pid);
}

/** Every descendant of `pid`, by /proc's children lists. */
function descendantsOf(pid: number): number[] {
  const found = readChildren(pid);
  for (let at = 0; at < found.length; at++) found.push(...readChildren(found[at]));
  return found;
}

/** The command line of `pid`, its words joined by spaces; '' when it is gone. */
function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Whether a socket of `pid` listens on TCP `port` (its /proc/PID/net/tcp and tcp6, the socket inodes among its fds). */
function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; st 0A is LISTEN; the inode is field 10.
      if (fields.length > 9 && Number.parseInt(fields[1].split(':')[1], 16) === port && fields[3] === '0A') inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return false;
  return readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
    } catch {
      return false;
    }
  });
}

/** Whether koffi loads here (.ci/run runs this file again with SCIDEX_NO_FFI=1): without it there is no pidfd, and no exit status told. */
const FFI = process.env.SCIDEX_NO_FFI !== '1';

describe.each([
  // The test's own children share its process group and session: never the run's.
  { tracking: 'cgroup', ownSession: false, workersFoundBy: 'cgroup' },
  { tracking: 'pgroup', ownSession: false, workersFoundBy: 'ancestry' },
  // A process that leads its group and session (setsid): they are the run's.
  { tracking: 'pgroup', ownSession: true, workersFoundBy: 'group' },
])('adopt, --tracking $tracking, the process in a session of its own: $ownSession', ({ tracking, ownSession, workersFoundBy }) => {
  it('kills the adopted process and its children at the timeout, and records the run as adopted', async () => {
    const stateDir = newStateDir();
    const family = await startProcess(['python3', '-c', FAMILY], true, ownSession);
    const workers = childrenOf(family.pid).map((pid) => ({ pid, starttime: readStat(pid)!.starttime }));
    expect(workers).toHaveLength(2);
    const runId = await adopt(family.pid, stateDir, ['--analysis-id', 'adopt-timeout', '--timeout', '2s', '--grace', '1s', '--tracking', tracking]);
    const ended = await family.exited;
    expect(ended.signal).toBe('SIGTERM');
    const { run, events, processes } = await finished(stateDir, runId);
    // Killed workers may sit as zombies under init a while: dead all the same.
    for (const worker of workers) expect(processAlive(worker.pid, worker.starttime)).toBe(false);
    expect(run).toMatchObject({ adopted: true, status: 'timeout', reason: 'timeout', pid: family.pid, exit_status: 143, tracking_backend: tracking, wrapper_pid: expect.any(Number) });
    expect(run.wrapper_pid).not.toBe(process.pid);
    expect(run.argv.slice(1)).toEqual(['-c', FAMILY]);
    const kinds = events.map((event) => event.kind);
    expect(kinds).toEqual(expect.arrayContaining(['run_started', 'limit_exceeded', 'signal_sent', 'process_killed', 'run_finished']));
    const started = events.find((event) => event.kind === 'run_started')!;
    expect(started.detail).toMatchObject({ adopted: { pid: family.pid, identity: FFI ? 'pidfd' : 'starttime', timeout_counts_from: 'adoption' } });
    expect(processes.map((p) => p.pid).sort()).toEqual([family.pid, ...workers.map((w) => w.pid)].sort());
    expect(processes.find((p) => p.pid === family.pid)!.found_by).toBe('leader');
    expect(processes.filter((p) => p.pid !== family.pid).map((p) => p.found_by)).toEqual([workersFoundBy, workersFoundBy]);
    expect(processes.every((p) => p.fate === 'terminated')).toBe(true);
    expect(await databaseRow(runId)).toMatchObject({ adopted: true, status: 'timeout', exit_status: 143 });
  });
});

describe('how an adopted process ended', SEVERAL_STARTS, () => {
  it(`ended by itself and reaped by its parent: ${FFI ? 'completed, with its exit status as the kernel told it' : 'exited, its exit status unknown (no FFI, no PIDFD_GET_INFO)'}`, async () => {
    const stateDir = newStateDir();
    // It exits with 3 when the test says so, after the adoption (which may take a second on a busy host).
    const job = await startProcess(['python3', '-c', 'import sys; print("ready", flush=True); sys.stdin.readline(); sys.exit(3)'], true, false, true);
    // The timeout is only a hang bound: the process ends when the test says so.
    const runId = await adopt(job.pid, stateDir, ['--timeout', '2min']);
    job.child.stdin!.end('go\n');
    expect(await job.exited).toEqual({ code: 3, signal: null });
    const { run, events } = await finished(stateDir, runId);
    const told = FFI ? { status: 'failed', exit_status: 3, exit_code: 3 } : { status: 'exited', exit_status: null, exit_code: null };
    expect(run).toMatchObject({ adopted: true, ...told, signal: null });
    expect(events.find((event) => event.kind === 'run_finished')!.detail).toMatchObject({ exit_known: FFI });
    expect(await databaseRow(runId)).toMatchObject({ adopted: true, status: told.status, exit_code: told.exit_code });
  });

  it('ended by itself and left a zombie by its parent: exited, its exit status unknown', async () => {
    const stateDir = newStateDir();
    // The parent prints its child's pid; told to, it lets the child exit and never waits for it while the test looks.
    const parent = await startProcess(
      [
        'python3',
        '-c',
        'import subprocess, sys, time\nc = subprocess.Popen(["python3", "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE)\nprint("ready", c.pid, flush=True)\nsys.stdin.readline()\nc.stdin.close()\ntime.sleep(30)\n',
      ],
      false,
      false,
      true,
    );
    try {
      const pid = Number((await parent.output(/ready (\d+)/))[1]);
      // The timeout is only a hang bound: the child ends when the test says so.
      const runId = await adopt(pid, stateDir, ['--timeout', '2min']);
      parent.child.stdin!.end('go\n');
      const { run, events } = await finished(stateDir, runId);
      expect(run).toMatchObject({ adopted: true, status: 'exited', exit_status: null, exit_code: null, signal: null, reason: 'exit status unknown to an adopter' });
      expect(events.find((event) => event.kind === 'run_finished')!.detail).toMatchObject({ exit_known: false });
      const shown = await watchdog(['show', runId], stateDir);
      expect(shown.stdout).toMatch(/^exit status: +unknown/m);
      expect(shown.stdout).toMatch(/adopted: +yes: pid \d+ was started elsewhere/);
      expect(await databaseRow(runId)).toMatchObject({ adopted: true, status: 'exited', exit_status: null });
    } finally {
      parent.child.kill('SIGKILL');
      await parent.exited;
    }
  });

  it('stops an adopted tree over its memory limit: out_of_memory', async () => {
    const stateDir = newStateDir();
    const balloon = await startProcess(['python3', join(EXAMPLES, 'balloon.py'), '32', '384']);
    const runId = await adopt(balloon.pid, stateDir, ['--memory-limit', '160MiB', '--grace', '1s']);
    await balloon.exited;
    const { run, events } = await finished(stateDir, runId);
    expect(run).toMatchObject({ adopted: true, status: 'out_of_memory', reason: 'memory' });
    expect(run.peak_rss_bytes).toBeGreaterThan(160 * 2 ** 20);
    expect(events.some((event) => event.kind === 'limit_exceeded' && event.reason === 'memory')).toBe(true);
    expect(await databaseRow(runId)).toMatchObject({ adopted: true, status: 'out_of_memory' });
  });

  it('--since-start: the timeout counts from the process start, not from the adoption', async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    await until('the process to be 2.5 s old', () => Date.now() - startedAtMs(job.pid) >= 2500, 60_000, { every: 100 });
    const runId = await adopt(job.pid, stateDir, ['--timeout', '4s', '--since-start', '--grace', '1s']);
    await job.exited;
    const { run, events } = await finished(stateDir, runId);
    expect(run.status).toBe('timeout');
    const limit = events.find((event) => event.kind === 'limit_exceeded')!;
    // Counted from the adoption, the limit could come no sooner than 4 s after it; counted from the start
    // (2.5 s or more before the adoption), it is due at most 1.5 s after it, and not before 4 s of the process's life.
    const { age_ms_at_adoption: age } = (events.find((event) => event.kind === 'run_started')!.detail as { adopted: { age_ms_at_adoption: number } }).adopted;
    expect(limit.elapsed_ms).toBeLessThan(4000);
    expect(limit.elapsed_ms + age).toBeGreaterThanOrEqual(4000);
    expect(events.find((event) => event.kind === 'run_started')!.detail).toMatchObject({ adopted: { timeout_counts_from: 'process_start' } });
  });

  it('is cancelled through its supervisor like any run (scidex-watchdog cancel)', async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    const runId = await adopt(job.pid, stateDir, ['--grace', '1s']);
    const cancel = await watchdog(['cancel', runId, '--reason', 'no longer needed'], stateDir);
    expect(cancel.exitCode, cancel.stderr).toBe(0);
    expect((await job.exited).signal).toBe('SIGTERM');
    const { run } = await finished(stateDir, runId);
    expect(run).toMatchObject({ adopted: true, status: 'cancelled', reason: 'cancelled: no longer needed', exit_status: 143 });
  });
});

describe('adopt, a scidex-run nested in the adopted tree', SEVERAL_STARTS, () => {
  it("cgroup: the inner run's processes stay in its own cgroup, its timeout still ends them, the outer run goes on", async () => {
    const stateDir = newStateDir();
    const innerDir = newStateDir();
    // The inner run's command forks: its sleep is found by the inner cgroup alone, not as the inner leader.
    const script = [
      'import subprocess, sys, time',
      `p = subprocess.Popen([${JSON.stringify(BIN)}, '--state-dir', ${JSON.stringify(innerDir)}, '--tracking', 'cgroup', '--timeout', '6s', '--grace', '1s', '--quiet', '--', 'sh', '-c', 'sleep 300 & wait'])`,
      'print("ready", flush=True)',
      'print(f"inner={p.wait()}", flush=True)',
      'time.sleep(300)',
    ].join('\n');
    const family = await startProcess(['python3', '-c', script], true);
    const innerCgroup = /\/scidex-run\/[0-9a-f-]{36}$/;
    const sleeper = await until('the inner run\'s sleep in its run cgroup', () =>
      descendantsOf(family.pid).find((pid) => readStat(pid)?.comm === 'sleep' && innerCgroup.test(cgroupOf(pid) ?? '')),
    );
    const sleeperStarttime = readStat(sleeper)!.starttime;
    const before = cgroupOf(sleeper)!;
    const runId = await adopt(family.pid, stateDir, ['--tracking', 'cgroup', '--grace', '1s']);
    expect(before).not.toContain(runId);
    expect(cgroupOf(family.pid)).toMatch(new RegExp(`/scidex-run/${runId}$`));
    // Another run's: left in its own cgroup, and named in the tracking report as not tracked.
    expect(cgroupOf(sleeper)).toBe(before);
    await family.output(/inner=124/);
    await until('the inner sleep killed', () => !processAlive(sleeper, sleeperStarttime));
    expect(readMarker(stateDir, runId)).toBeDefined();
    expect(processAlive(family.pid, readStat(family.pid)!.starttime)).toBe(true);
    expect((await watchdog(['release', runId], stateDir, { database: false })).exitCode).toBe(0);
    const { run, events } = await finished(stateDir, runId);
    expect(run.status).toBe('released');
    const started = events.find((event) => event.kind === 'run_started')!;
    expect(JSON.stringify(started.detail)).toMatch(/another run's/);
    expect(cgroupOf(family.pid)).not.toContain(runId);
    family.child.kill('SIGKILL');
    await family.exited;
  });
});

describe('adopt, SIGUSR1 to the supervisor', SEVERAL_STARTS, () => {
  it('before its handlers are in (stopped at journal-created): never opens the inspector, and it supervises on', async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    const adopting = watchdog(['adopt', String(job.pid), '--quiet', '--tracking', 'pgroup'], stateDir, { env: { SCIDEX_FAILPOINTS: 'journal-created' } });
    const supervisor = await until('the supervisor stopped at journal-created', () =>
      listPids().find((pid) => readStat(pid)?.state === 'T' && cmdlineOf(pid).includes('--supervise') && cmdlineOf(pid).includes(String(job.pid))),
    );
    // Pending while it is stopped: delivered the moment it goes on, before any handler of the Supervisor's.
    process.kill(supervisor, 'SIGUSR1');
    process.kill(supervisor, 'SIGCONT');
    const result = await adopting;
    expect(result.exitCode, result.stderr).toBe(0);
    const runId = result.stdout;
    // Its word comes after the signal's delivery: an inspector it started would be listening by now.
    expect(listensOn(supervisor, 9229)).toBe(false);
    expect(readMarker(stateDir, runId)).toBeDefined();
    expect((await watchdog(['release', runId], stateDir, { database: false })).exitCode).toBe(0);
    expect((await finished(stateDir, runId)).run.status).toBe('released');
    job.child.kill('SIGKILL');
    await job.exited;
  });
});

describe('adopt, its requester gone before the word', SEVERAL_STARTS, () => {
  it('the supervisor does not supervise on unseen: the run ends released at once, nothing signalled, the tree back in its cgroup', async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    const starttime = readStat(job.pid)!.starttime;
    const adopting = watchdog(['adopt', String(job.pid), '--quiet', '--tracking', 'cgroup', '--timeout', '2s'], stateDir, { env: { SCIDEX_FAILPOINTS: 'journal-created' } });
    const supervisor = await until('the supervisor stopped at journal-created', () =>
      listPids().find((pid) => readStat(pid)?.state === 'T' && cmdlineOf(pid).includes('--supervise') && cmdlineOf(pid).includes(String(job.pid))),
    );
    // As a requester that gave up waiting: its end of the pipe is closed.
    adopting.kill('SIGKILL');
    await adopting;
    process.kill(supervisor, 'SIGCONT');
    const runId = await until('the run\'s marker', () => listMarkers(stateDir)[0]);
    const { run, events } = await finished(stateDir, runId);
    expect(run).toMatchObject({ adopted: true, status: 'released', exit_status: null, reason: expect.stringMatching(/given up/) });
    expect(events.filter((event) => ['signal_sent', 'process_killed', 'limit_exceeded'].includes(event.kind))).toEqual([]);
    expect(processAlive(job.pid, starttime)).toBe(true);
    expect(cgroupOf(job.pid)).not.toContain(runId);
    job.child.kill('SIGKILL');
    await job.exited;
  });
});

describe('release', SEVERAL_STARTS, () => {
  it('stops supervising without a signal: the tree outlives its supervisor, the row ends released with who asked', async () => {
    const stateDir = newStateDir();
    const family = await startProcess(['python3', '-c', FAMILY], true);
    const workers = childrenOf(family.pid);
    const identities = [family.pid, ...workers].map((pid) => ({ pid, starttime: readStat(pid)!.starttime }));
    // A timeout the release must beat, by a margin no CLI start on a loaded host eats up (2 s once could be).
    const runId = await adopt(family.pid, stateDir, ['--timeout', '2min', '--grace', '1s']);
    const released = await watchdog(['release', runId, '--reason', 'the app keeps it'], stateDir, { database: false });
    expect(released.exitCode, released.stderr).toBe(0);
    expect(released.stderr).toMatch(/released/);
    const { run, events, processes } = await finished(stateDir, runId);
    // Nothing happens to it after: no timer of the supervisor's, and nothing its lifeline or a reaper would do.
    expect(events.filter((event) => event.kind === 'limit_exceeded' || event.kind === 'signal_sent')).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (const { pid, starttime } of identities) expect(processAlive(pid, starttime)).toBe(true);
    expect(run).toMatchObject({ adopted: true, status: 'released', reason: 'released: the app keeps it', exit_status: null });
    const release = events.find((event) => event.kind === 'released')!;
    expect(release.detail).toMatchObject({ reason: 'the app keeps it', requested_by: expect.stringMatching(/@.* pid \d+$/) });
    expect(events.filter((event) => ['signal_sent', 'process_killed', 'limit_exceeded', 'orphan_found'].includes(event.kind))).toEqual([]);
    expect(processes.every((p) => p.fate === 'left_running')).toBe(true);
    // Back in the cgroup it came from, not in the run's.
    expect(readFileSync(`/proc/${family.pid}/cgroup`, 'utf8')).not.toContain(runId);
    expect(await databaseRow(runId)).toMatchObject({ adopted: true, status: 'released' });
    family.child.kill('SIGKILL');
    for (const worker of workers) process.kill(worker, 'SIGKILL');
    await family.exited;
  });

  it('refuses a run that was not adopted (exit 1), and bad input (125)', async () => {
    const stateDir = newStateDir();
    const wrapper = startWrapper(['--quiet', '--', 'sleep', '300'], { tag, stateDir });
    const runId = await until('the run marker', () => listMarkers(stateDir)[0]);
    const refused = await watchdog(['release', runId], stateDir, { database: false });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/not adopted/);
    const bad = await watchdog(['release', 'not-a-run'], stateDir, { database: false });
    expect([bad.exitCode, bad.stderr.trim().split('\n')]).toEqual([125, ["scidex-watchdog: invalid run 'not-a-run': expected a run id (UUID)"]]);
    wrapper.kill('SIGTERM');
    await wrapper;
  });
});

describe('refusals: one line, exit 125', SEVERAL_STARTS, () => {
  const refusal = async (args: string[], stateDir = newStateDir(), via?: string[]) => {
    const result = await watchdog(['adopt', ...args], stateDir, { via });
    expect(result.exitCode, result.stderr).toBe(125);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0];
  };

  it('pid 1, no such pid, not a pid, a bad option', async () => {
    expect(await refusal(['1'])).toMatch(/pid 1 is never adopted/);
    expect(await refusal(['4194304'])).toBe('scidex-watchdog: no process 4194304');
    expect(await refusal(['abc'])).toMatch(/invalid pid 'abc'/);
    const job = await startProcess(['sleep', '300']);
    expect(await refusal([String(job.pid), '--timeout', 'five minutes'])).toMatch(/--timeout/);
    expect(await refusal([String(job.pid), '--tracking', 'subreaper'])).toMatch(/subreaper/);
    job.child.kill('SIGKILL');
    await job.exited;
  });

  it('a pid reused between the request and the adoption (the starttime the caller knows is not the process now)', async () => {
    const job = await startProcess(['sleep', '300']);
    const starttime = readStat(job.pid)!.starttime;
    expect(await refusal([String(job.pid), '--starttime', String(starttime - 1)])).toMatch(new RegExp(`pid ${job.pid} is another process now .*reused`));
    // The right one is taken.
    const stateDir = newStateDir();
    const runId = await adopt(job.pid, stateDir, ['--starttime', String(starttime), '--timeout', '1s', '--grace', '1s']);
    await job.exited;
    expect((await finished(stateDir, runId)).run.status).toBe('timeout');
  });

  it('a process adopted already, or inside a scidex-run run', async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    const runId = await adopt(job.pid, stateDir, ['--tracking', 'pgroup']);
    expect(await refusal([String(job.pid)], stateDir)).toMatch(/adopted already/);
    // From another state directory: the run's cgroup (or the lock) says it.
    const inRun = startWrapper(['--quiet', '--', 'sleep', '300'], { tag, stateDir: newStateDir() });
    const leader = await until('the wrapper\'s sleep', () => childrenOf(inRun.pid!).find((pid) => readStat(pid)?.comm === 'sleep'));
    expect(await refusal([String(leader)])).toMatch(/inside run [0-9a-f-]{36} already/);
    inRun.kill('SIGTERM');
    await inRun;
    expect((await watchdog(['release', runId], stateDir, { database: false })).exitCode).toBe(0);
    job.child.kill('SIGKILL');
    await job.exited;
  });

  it.skipIf(!canUnshare)('a process of another PID namespace (a container\'s, seen from its host)', async () => {
    const outer = await startProcess(['unshare', '--pid', '--fork', '--mount-proc', 'sleep', '300']);
    const inner = await until('the sleep inside the namespace', () => childrenOf(outer.pid)[0]);
    expect(await refusal([String(inner)])).toMatch(new RegExp(`process ${inner} is in another PID namespace`));
    // The namespace's init: its death ends the namespace, and unshare with it.
    process.kill(inner, 'SIGKILL');
    await outer.exited;
  });

  it.skipIf(!root)("another user's process: nobody may not adopt root's (and root may adopt nobody's)", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'scidex-nobody-'));
    const nobody = (nobodyCase as { owner: { uid: number; gid: number } }).owner;
    chownSync(stateDir, nobody.uid, nobody.gid);
    const job = await startProcess(['sleep', '300']);
    const via = ['runuser', '-u', 'nobody', '--', process.execPath];
    expect(await refusal([String(job.pid), '--state-dir', stateDir], stateDir, via)).toMatch(new RegExp(`process ${job.pid} belongs to uid 0, not to you \\(uid ${nobody.uid}\\): only its owner or root may adopt it`));
    expect(processAlive(job.pid, readStat(job.pid)!.starttime)).toBe(true);
    job.child.kill('SIGKILL');
    await job.exited;
    // nobody's own process: root adopts it.
    const theirs = spawn('runuser', ['-u', 'nobody', '--', 'sleep', '300'], { stdio: 'ignore', env: { ...process.env, SCIDEX_TEST_TAG: tag } });
    const theirsExited = new Promise((resolve) => theirs.on('exit', resolve));
    // runuser may exec the command, or fork it and wait.
    const sleeper = await until("nobody's sleep", () => (readStat(theirs.pid!)?.comm === 'sleep' ? theirs.pid! : childrenOf(theirs.pid!).find((pid) => readStat(pid)?.comm === 'sleep')));
    const rootDir = newStateDir();
    const runId = await adopt(sleeper, rootDir, ['--timeout', '1s', '--grace', '1s']);
    expect((await finished(rootDir, runId)).run.status).toBe('timeout');
    await theirsExited;
  });

  it.skipIf(!root)("root's run released by nobody through a forged copy of its marker: refused, the run goes on", async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    const runId = await adopt(job.pid, stateDir, ['--tracking', 'pgroup']);
    const nobody = (nobodyCase as { owner: { uid: number; gid: number } }).owner;
    const intruder = mkdtempSync(join(tmpdir(), 'scidex-intruder-'));
    chownSync(intruder, nobody.uid, nobody.gid);
    for (const dir of ['running', 'journal']) mkdirSync(join(intruder, dir), { mode: 0o700 });
    chownSync(join(intruder, 'running'), nobody.uid, nobody.gid);
    chownSync(join(intruder, 'journal'), nobody.uid, nobody.gid);
    const forged = join(intruder, 'running', `${runId}.json`);
    copyFileSync(join(stateDir, 'running', `${runId}.json`), forged);
    chownSync(forged, nobody.uid, nobody.gid);
    chmodSync(forged, 0o600);
    const via = ['runuser', '-u', 'nobody', '--', process.execPath];
    const refused = await watchdog(['release', runId, '--state-dir', intruder], intruder, { database: false, via });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/refused/);
    expect(readMarker(stateDir, runId)).toBeDefined();
    expect((await watchdog(['release', runId], stateDir, { database: false })).exitCode).toBe(0);
    job.child.kill('SIGKILL');
    await job.exited;
  });
});

describe('a dead adopting supervisor', SEVERAL_STARTS, () => {
  it('pgroup: its reaper signals nothing of the adopted tree (no cookie proves it) and records the run lost', async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    const starttime = readStat(job.pid)!.starttime;
    const runId = await adopt(job.pid, stateDir, ['--tracking', 'pgroup', '--grace', '1s']);
    process.kill(readMarker(stateDir, runId)!.wrapper_pid, 'SIGKILL');
    const { run, events } = await finished(stateDir, runId);
    expect(run).toMatchObject({ adopted: true, status: 'lost', reason: 'wrapper_gone' });
    expect(events.find((event) => event.kind === 'kill_refused')).toMatchObject({ pid: job.pid, reason: expect.stringMatching(/^adopted: .*no cookie/) });
    expect(processAlive(job.pid, starttime)).toBe(true);
    job.child.kill('SIGKILL');
    await job.exited;
  });

  it('pgroup, dead after journaling its timeout and before any signal: its reaper records lost (wrapper_gone), not the timeout, and signals nothing', async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    const starttime = readStat(job.pid)!.starttime;
    const runId = await adopt(job.pid, stateDir, ['--tracking', 'pgroup', '--timeout', '1s', '--grace', '1s'], { SCIDEX_FAILPOINTS: 'stop-journaled' });
    const supervisor = readMarker(stateDir, runId)!.wrapper_pid;
    await until('the supervisor stopped at stop-journaled', () => readStat(supervisor)?.state === 'T', 60_000);
    process.kill(supervisor, 'SIGKILL');
    const { run, events } = await finished(stateDir, runId);
    expect(events.find((event) => event.kind === 'limit_exceeded')).toBeDefined();
    expect(run).toMatchObject({ adopted: true, status: 'lost', reason: 'wrapper_gone', exit_status: null });
    expect(events.filter((event) => event.kind === 'signal_sent')).toEqual([]);
    expect(events.find((event) => event.kind === 'run_lost')!.detail).not.toHaveProperty('recorded_as');
    expect(processAlive(job.pid, starttime)).toBe(true);
    job.child.kill('SIGKILL');
    await job.exited;
  });

  it('cgroup, dead after journaling its timeout: its reaper carries the timeout out, exit_status 128 + its last signal to the leader', async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    const runId = await adopt(job.pid, stateDir, ['--tracking', 'cgroup', '--timeout', '1s', '--grace', '1s'], { SCIDEX_FAILPOINTS: 'stop-journaled' });
    const supervisor = readMarker(stateDir, runId)!.wrapper_pid;
    await until('the supervisor stopped at stop-journaled', () => readStat(supervisor)?.state === 'T', 60_000);
    process.kill(supervisor, 'SIGKILL');
    expect((await job.exited).signal).toBe('SIGTERM');
    const { run, events } = await finished(stateDir, runId);
    expect(run).toMatchObject({ adopted: true, status: 'timeout', exit_status: 143 });
    expect(events.find((event) => event.kind === 'run_lost')!.detail).toMatchObject({ recorded_as: 'timeout' });
    await reaperDone();
  });

  it('cgroup: its reaper kills the tree in the run cgroup, as for any run', async () => {
    const stateDir = newStateDir();
    const job = await startProcess(['sleep', '300']);
    const runId = await adopt(job.pid, stateDir, ['--tracking', 'cgroup', '--grace', '1s']);
    process.kill(readMarker(stateDir, runId)!.wrapper_pid, 'SIGKILL');
    expect((await job.exited).signal).toBe('SIGTERM');
    const { run } = await finished(stateDir, runId);
    expect(run).toMatchObject({ adopted: true, status: 'lost', reason: 'wrapper_gone', exit_status: null });
    await reaperDone();
  });
});

describe('records of older versions', SEVERAL_STARTS, () => {
  it('a run row without `adopted` (a journal written before it existed) ships as adopted = false', async () => {
    const id = randomUUID();
    const now = new Date().toISOString();
    const old = {
      id, revision: 1, analysis_id: 'adopt-old-journal', parent_run_id: null, host: 'old-host', boot_id: 'b00t', pid_ns: null, wrapper_pid: 4242,
      wrapper_starttime: 1, pid: 4243, pgid: 4243, leader_starttime: 2, argv: ['true'], cwd: '/', username: 'scidex', timeout_ms: 0,
      memory_limit_bytes: 0, grace_ms: 10_000, orphan_policy: 'kill', tracking_backend: 'pgroup', cgroup_path: null, journal_path: '/nonexistent',
      started_at: now, heartbeat_at: now, ended_at: now, status: 'completed', exit_status: 0, exit_code: 0, signal: null, reason: null,
      peak_rss_bytes: 0, peak_pss_bytes: null, cpu_seconds: 0, peak_process_count: 1, process_count: 1,
    };
    await writeRecords(db.client(), { runs: [old] });
    const row = await db.client().query('SELECT adopted FROM watchdog_runs WHERE id = $1', [id]);
    expect(row.rows).toEqual([{ adopted: false }]);
  });
});

/** When the process `pid` started, epoch milliseconds (its starttime, and the boot time from /proc/uptime). */
function startedAtMs(pid: number): number {
  const uptimeMs = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]) * 1000;
  return Date.now() - uptimeMs + readStat(pid)!.starttime * 10;
}
