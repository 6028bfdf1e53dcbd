/**
 * The daemon's memory-pressure guard for real: `scidex-watchdog serve` on a loopback port with a
 * state directory and a PostgreSQL database of this file's own, real wrappers, and real memory. The
 * host is not driven into a shortage: a run allocates and touches 1.5 GiB, and the floor
 * (--min-available) is set ~800 MiB below what the host had without it (700 MiB above what it has with
 * it, measured while the run holds its memory, just before the daemon starts). The suite runs files in
 * parallel beside other memory users, so every threshold is relative to the moment, each test starts
 * a daemon of its own (a fresh floor), an attempt whose host did not cooperate (still below the floor
 * after the big run's stop) is made again, and every assertion waits for what it asserts. How fast the
 * guard sees a host fall below its floor is the bench's (scripts/bench/guard).
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryOnce } from '../helpers/database.js';
import { ownDatabase } from '../helpers/own-database.js';
import { killSurvivors, newTag, ownedTag } from '../helpers/processes.js';
import { freeLoopbackPort } from '../helpers/server-host.js';
import { until } from '../helpers/until.js';
import { BIN, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { readJournal } from '../../src/record/journal.js';
import { readMeminfo } from '../../src/proc/host-memory.js';
import type { EventRecord, RunRecord } from '../../src/record/types.js';
import type { HostStatus } from '../../src/watchdog/status-body.js';

const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
const NO_DATABASE = { DATABASE_URL: undefined, SCIDEX_RUN_DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined };
const MiB = 1024 ** 2;
/** How far above what the host has available while the big run holds its 1.5 GiB the floor is set (bigRunHolding). */
const FLOOR_ABOVE_MIB = 700;
const tag = ownedTag();
const daemonTag = newTag();
const database = ownDatabase('guard');
const guardDatabaseUrl = database.url;

function memAvailableBytes(): number {
  const meminfo = readMeminfo();
  if (!meminfo) throw new Error('no MemAvailable in /proc/meminfo');
  return meminfo.memAvailableBytes;
}

/** A daemon of a test's own, on a free loopback port. */
interface Daemon {
  process: ResultPromise<{ reject: false }>;
  base: string;
  log(): string;
  status(): Promise<HostStatus>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

async function startDaemon(stateDir: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Daemon> {
  const port = await freeLoopbackPort();
  const base = `http://127.0.0.1:${port}`;
  const process = execa(WATCHDOG, ['serve', '--listen', `127.0.0.1:${port}`, '--interval', '500ms', '--state-dir', stateDir, ...args], {
    reject: false,
    env: { ...NO_DATABASE, ...env, SCIDEX_TEST_TAG: daemonTag },
    stdin: 'ignore',
  }) as ResultPromise<{ reject: false }>;
  let log = '';
  process.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const status = async () => (await fetch(`${base}/status`)).json() as Promise<HostStatus>;
  await until(() => `the daemon to answer /status; its log:\n${log}`, () => status().then((body) => body.daemon.pid > 0, () => false), 60_000, { every: 100 });
  return {
    process,
    base,
    log: () => log,
    status,
    metrics: async () => (await fetch(`${base}/metrics`)).text(),
    stop: async () => {
      if (process.exitCode === null && process.signalCode === null) process.kill('SIGTERM');
      const result = await process;
      expect(result.exitCode, log).toBe(0);
    },
  };
}

/** A run that holds a little memory until `release` exists, then ends by itself (exit 0). */
function smallRun(stateDir: string, env: Record<string, string | undefined>, release: string) {
  const script = 'import os, sys, time\nx = bytearray(8 << 20)\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.05)';
  return startWrapper(['--quiet', '--analysis-id', 'guard-small', '--', 'python3', '-c', script, release], { tag, stateDir, env });
}

/**
 * A run that allocates and touches 1.5 GiB (a bytearray written page by page), 128 MiB a step, then writes `ready`
 * and holds it for 60 s, and exits 0: long enough for the guard (the daemon's start comes first, slow on a host
 * loaded by the suite), bounded should it never be stopped.
 */
function bigRun(stateDir: string, env: Record<string, string | undefined>, analysisId: string, ready: string) {
  const script = [
    'import sys, time',
    'held = []',
    'for _ in range(12):',
    '    chunk = bytearray(128 << 20)',
    '    chunk[::4096] = b"\\x01" * ((128 << 20) // 4096)',
    '    held.append(chunk)',
    '    time.sleep(0.05)',
    'open(sys.argv[1], "w").close()',
    'time.sleep(60)',
  ].join('\n');
  return startWrapper(['--quiet', '--analysis-id', analysisId, '--', 'python3', '-c', script, ready], { tag, stateDir, env });
}

/**
 * Starts the big run, waits until it holds its 1.5 GiB, and returns the floor: FLOOR_ABOVE_MIB above what the host
 * has available then, so ~800 MiB below what it had without the run. Measured while the run holds its memory, so
 * that other memory users on the host have only the daemon's start-up (a second) to move it back above.
 */
async function bigRunHolding(stateDir: string, env: Record<string, string | undefined>, analysisId: string) {
  const ready = join(mkdtempSync(join(tmpdir(), 'scidex-gate-')), 'ready');
  const run = bigRun(stateDir, env, analysisId, ready);
  await until(() => `the big run to hold its memory (exit ${run.exitCode})`, () => existsSync(ready) || run.exitCode !== null, 60_000, { every: 50 });
  return { run, floorBytes: memAvailableBytes() + FLOOR_ABOVE_MIB * MiB };
}

function journalRecords(stateDir: string, runId: string): { runs: RunRecord[]; events: EventRecord[] } {
  const { entries } = readJournal(join(stateDir, 'journal', `${runId}.jsonl`));
  return {
    runs: entries.filter((entry) => entry.table === 'runs').map((entry) => entry.record as RunRecord),
    events: entries.filter((entry) => entry.table === 'events').map((entry) => entry.record as EventRecord),
  };
}

/** The run id of the one run of `analysisId` the state directory's journals hold. */
function runIdOf(stateDir: string, analysisId: string): string {
  const ids = readJournalIds(stateDir).filter((id) => journalRecords(stateDir, id).runs.some((run) => run.analysis_id === analysisId));
  if (ids.length !== 1) throw new Error(`expected one run of ${analysisId}, found ${ids.length}`);
  return ids[0];
}

function readJournalIds(stateDir: string): string[] {
  return readdirSync(join(stateDir, 'journal'))
    .filter((name) => /^[0-9a-f-]{36}\.jsonl$/.test(name))
    .map((name) => name.slice(0, 36));
}

function metric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** One try of the first test: a daemon with a fresh floor, a small run, then the big one. */
interface Attempt {
  daemon: Daemon;
  stateDir: string;
  floorBytes: number;
  /** The big run was stopped for host pressure, and the small one was not and ended by itself (exit 0). */
  clean: boolean;
  why: string;
}

async function guardedPair(): Promise<Attempt> {
  const stateDir = newStateDir();
  const release = join(mkdtempSync(join(tmpdir(), 'scidex-gate-')), 'release');
  const env = { DATABASE_URL: guardDatabaseUrl };
  const small = smallRun(stateDir, env, release);
  let released = false;
  let daemon: Daemon | undefined;
  try {
    const { run: big, floorBytes } = await bigRunHolding(stateDir, env, 'guard-big');
    daemon = await startDaemon(stateDir, ['--min-available', String(floorBytes), '--database-url', guardDatabaseUrl]);
    const result = await big;
    if (result.exitCode !== 137) return { daemon, stateDir, floorBytes, clean: false, why: `the big run ended ${result.exitCode} (${result.stderr}); daemon:\n${daemon.log()}` };
    // The guard reads the host again at once: were it still short, the small run would be stopped now.
    await until('a moment after the stop', async () => (await daemon!.status()).pressure_guard.stops > 1, 1000, { every: 100, onTimeout: 'return' });
    const stops = (await daemon.status()).pressure_guard.stops;
    writeFileSync(release, '');
    released = true;
    const smallResult = await small;
    if (smallResult.exitCode !== 0 || stops !== 1) {
      return { daemon, stateDir, floorBytes, clean: false, why: `the host stayed below the floor: ${stops} stops, the small run ended ${smallResult.exitCode}; daemon:\n${daemon.log()}` };
    }
    return { daemon, stateDir, floorBytes, clean: true, why: '' };
  } catch (error) {
    await daemon?.stop();
    throw error;
  } finally {
    if (!released) writeFileSync(release, '');
    await small;
  }
}

describe('scidex-watchdog serve --pressure-guard: bad input is 125, one line, nothing started', () => {
  const refused = async (args: string[], message: RegExp) => {
    const stateDir = newStateDir();
    const result = await execa(WATCHDOG, ['serve', '--listen', '127.0.0.1:0', '--state-dir', stateDir, ...args], { reject: false, env: NO_DATABASE, timeout: 60_000 });
    expect(result.exitCode, result.stderr).toBe(125);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    expect(existsSync(join(stateDir, 'watchdog.json'))).toBe(false);
  };

  // Eight CLI runs one after the other: up to 4 s each on a host loaded by the suite, too close to the default 60 s.
  it('refuses malformed thresholds', { timeout: 240_000 }, async () => {
    await refused(['--pressure-guard', 'maybe'], /invalid --pressure-guard 'maybe': expected on or off/);
    await refused(['--min-available', 'lots'], /invalid --min-available 'lots': expected a size/);
    await refused(['--min-available', '-1G'], /invalid --min-available '-1G'/);
    await refused(['--min-available', '100%'], /invalid --min-available '100%': a share of MemTotal below 100%/);
    await refused(['--max-memory-pressure', '150'], /invalid --max-memory-pressure '150': at most 100/);
    await refused(['--max-memory-pressure', 'high'], /invalid --max-memory-pressure 'high': expected a percentage/);
    await refused(['--pressure-duration', 'soon'], /invalid --pressure-duration 'soon': expected a duration/);
    await refused(['--pressure-duration', '2h'], /invalid --pressure-duration '2h': at most 1h/);
  });
});

describe('the pressure guard, with real memory, real processes and PostgreSQL', () => {
  const databaseUrl = guardDatabaseUrl;
  const env = { DATABASE_URL: databaseUrl };

  beforeAll(async () => {
    await database.create();
  });

  afterAll(async () => {
    expect(await killSurvivors(daemonTag)).toEqual([]);
    await database.drop();
  });

  // Up to three attempts, each a big run held up to 60 s should the guard not stop it.
  it('stops the largest run (out_of_memory, host_pressure, 137) while a small run beside it goes on', async () => {
    // Other memory users on the host may move it across the floor on their own: an attempt where the host's memory
    // did not cooperate (no crossing, or still below the floor once the big run was gone) is tried again, fresh.
    let attempt: Attempt | undefined;
    for (let tries = 1; tries <= 3 && !attempt?.clean; tries++) {
      await attempt?.daemon.stop();
      attempt = await guardedPair();
      if (!attempt.clean) console.warn(`pressure-guard.test: attempt ${tries}: ${attempt.why}; trying again`);
    }
    const { daemon, stateDir, floorBytes, clean, why } = attempt!;
    try {
      expect(clean, why).toBe(true);
      const runId = runIdOf(stateDir, 'guard-big');
      const { runs, events } = journalRecords(stateDir, runId);
      expect(runs.at(-1)).toMatchObject({ status: 'out_of_memory', exit_status: 137, reason: 'host_pressure' });
      const stop = events.find((event) => event.kind === 'limit_exceeded');
      expect(stop).toMatchObject({ reason: 'host_pressure' });
      const detail = stop!.detail as Record<string, unknown>;
      expect(detail).toMatchObject({ threshold: 'min_available', min_available_bytes: floorBytes, grace_ms: 2000, max_memory_pressure: 40, pressure_duration_ms: 10_000 });
      expect(detail.mem_available_bytes as number).toBeLessThan(floorBytes);
      expect(detail.mem_total_bytes as number).toBeGreaterThan(floorBytes);
      expect(detail.requested_by as string).toMatch(/pressure guard/);
      // The run's PSS, read by the daemon for its choice: a good part of what the balloon held by then.
      expect(detail.run_pss_bytes as number).toBeGreaterThan(256 * MiB);
      expect(stop!.pss_bytes).toBe(detail.run_pss_bytes);
      if (existsSync('/proc/pressure/memory')) expect(typeof detail.psi_full_avg10).toBe('number');
      expect(events.filter((event) => event.kind === 'signal_sent').map((event) => [event.reason, event.signal])[0]).toEqual(['host_pressure', 'SIGTERM']);
      expect(events.find((event) => event.kind === 'run_finished')).toMatchObject({ reason: 'host_pressure', detail: expect.objectContaining({ status: 'out_of_memory', exit_status: 137 }) });

      // PostgreSQL has it: the wrapper shipped its end.
      const rows = await queryOnce<{ status: string; exit_status: number; reason: string }>(databaseUrl, 'SELECT status, exit_status, reason FROM watchdog_runs WHERE id = $1', [runId]);
      expect(rows).toEqual([{ status: 'out_of_memory', exit_status: 137, reason: 'host_pressure' }]);
      const stored = await queryOnce<{ detail: Record<string, unknown>; pss_bytes: string }>(
        databaseUrl,
        `SELECT detail, pss_bytes FROM watchdog_events WHERE run_id = $1 AND kind = 'limit_exceeded' AND reason = 'host_pressure'`,
        [runId],
      );
      expect(stored).toHaveLength(1);
      expect(stored[0].detail).toMatchObject({ threshold: 'min_available', min_available_bytes: floorBytes, mem_available_bytes: detail.mem_available_bytes });
      expect(Number(stored[0].pss_bytes)).toBe(detail.run_pss_bytes);

      // /metrics counts the kill by its reason, and the guard's stop by who ended it.
      const text = await until('the kill to be counted', async () => {
        const body = await daemon.metrics();
        return metric(body, 'scidex_kills_total{reason="host_pressure"}') === 1 ? body : undefined;
      }, 60_000, { every: 200 });
      expect(metric(text, 'scidex_runs_finished_total{status="out_of_memory"}')).toBe(1);
      expect(metric(text, 'scidex_kills_total{reason="memory"}')).toBe(0);
      expect(metric(text, 'scidex_pressure_guard_stops_total{by="wrapper"}')).toBe(1);
      expect(metric(text, 'scidex_pressure_guard_min_available_bytes')).toBe(floorBytes);
      expect(metric(text, 'scidex_host_memory_available_bytes')).toBeGreaterThan(0);

      // /status says so: the guard's last stop, and the kill among the recent events.
      // (/status is rebuilt at most every 250 ms: wait for the small run's end to show.)
      const status = await until('/status to show no run', async () => {
        const body = await daemon.status();
        return body.runs.length === 0 ? body : undefined;
      }, 60_000, { every: 100 });
      expect(status.pressure_guard).toMatchObject({ enabled: true, min_available_bytes: floorBytes, stops: 1 });
      expect(status.pressure_guard.last_stop).toMatchObject({ run_id: runId, analysis_id: 'guard-big', threshold: 'min_available', by: 'wrapper', candidates: 2 });
      expect(status.recent_events).toContainEqual(expect.objectContaining({ run_id: runId, kind: 'limit_exceeded', reason: 'host_pressure' }));
      // The small run ended by itself once the test let it: completed, 0.
      const smallRuns = journalRecords(stateDir, runIdOf(stateDir, 'guard-small')).runs;
      expect(smallRuns.at(-1)).toMatchObject({ status: 'completed', exit_status: 0, reason: null });
      expect(daemon.log()).toMatch(/host memory pressure: MemAvailable .* is below the .* floor .*; stopping run [0-9a-f-]+ \(analysis guard-big\), the largest of 2/);

      // `show` says why.
      const show = await execa(WATCHDOG, ['show', runId, '--database-url', databaseUrl], { reject: false });
      expect(show.exitCode, show.stderr).toBe(0);
      expect(show.stdout).toMatch(/^status: +out_of_memory$/m);
      expect(show.stdout).toMatch(/^reason: +host_pressure$/m);
      expect(show.stdout).toMatch(/^host pressure: +MemAvailable .* below the .* floor \(.*\); tree PSS .*, the largest run on the host; stopped by its wrapper$/m);
    } finally {
      await daemon.stop();
    }
  }, 420_000);

  // A wrapper's start, a daemon's start and their sweeps, each slow on a host loaded by the suite.
  it('ends the run itself when the wrapper does not act within the grace period', { timeout: 240_000 }, async () => {
    const stateDir = newStateDir();
    // The wrapper stops itself (SIGSTOP) right after taking the guard's request, and never acts on it.
    const { run: big, floorBytes } = await bigRunHolding(stateDir, { ...env, SCIDEX_FAILPOINTS: 'pressure-request-taken' }, 'guard-stuck');
    const daemon = await startDaemon(stateDir, ['--min-available', String(floorBytes), '--database-url', databaseUrl]);
    try {
      const result = await big;
      // The daemon SIGKILLed the stuck wrapper.
      expect(result.signal, `${result.stderr}\n${daemon.log()}`).toBe('SIGKILL');
      const runId = runIdOf(stateDir, 'guard-stuck');
      const row = await until('the daemon to record the run', () => {
        const { runs } = journalRecords(stateDir, runId);
        return runs.at(-1)?.ended_at ? runs.at(-1) : undefined;
      }, 60_000, { every: 100 });
      expect(row).toMatchObject({ status: 'out_of_memory', exit_status: 137, reason: 'host_pressure' });
      const { events } = journalRecords(stateDir, runId);
      // The daemon journaled the stop (with the host's figures), then killed the tree at once.
      const stop = events.find((event) => event.kind === 'limit_exceeded');
      expect(stop).toMatchObject({ reason: 'host_pressure', detail: expect.objectContaining({ threshold: 'min_available', taken_over: true, min_available_bytes: floorBytes }) });
      // SIGKILL at once (a second pass, the freeze and kill, may find the 1.5 GiB process still dying).
      const signals = events.filter((event) => event.kind === 'signal_sent').map((event) => [event.reason, event.signal]);
      expect(signals.length).toBeGreaterThan(0);
      expect(new Set(signals.map((signal) => signal.join(' ')))).toEqual(new Set(['host_pressure SIGKILL']));
      expect(events.find((event) => event.kind === 'run_lost')).toMatchObject({
        reason: 'host_pressure',
        detail: expect.objectContaining({ recorded_as: 'out_of_memory', killed: 1, refused: 0, survivors: [] }),
      });
      // The marker goes once the records are in (the journal, then PostgreSQL).
      await until("the run's marker to be removed", () => !existsSync(join(stateDir, 'running', `${runId}.json`)), 60_000, { every: 100 });

      const rows = await until('the row in PostgreSQL', async () => {
        const found = await queryOnce<{ status: string; exit_status: number; reason: string }>(databaseUrl, 'SELECT status, exit_status, reason FROM watchdog_runs WHERE id = $1', [runId]);
        return found[0]?.status === 'out_of_memory' ? found : undefined;
      }, 60_000, { every: 200 });
      expect(rows).toEqual([{ status: 'out_of_memory', exit_status: 137, reason: 'host_pressure' }]);
      const text = await until('the kill to be counted', async () => {
        const body = await daemon.metrics();
        return metric(body, 'scidex_kills_total{reason="host_pressure"}') === 1 ? body : undefined;
      }, 60_000, { every: 200 });
      expect(metric(text, 'scidex_pressure_guard_stops_total{by="daemon"}')).toBe(1);
      expect((await daemon.status()).pressure_guard.last_stop).toMatchObject({ run_id: runId, by: 'daemon' });
      expect(daemon.log()).toMatch(/did not act within 2\.00s; the daemon killed it and the run's tree \(1 processes signalled, 0 refused\)/);
      const show = await execa(WATCHDOG, ['show', runId, '--database-url', databaseUrl], { reject: false });
      expect(show.stdout).toMatch(/^host pressure: .*; its wrapper did not act: the host's scidex-watchdog ended it$/m);
    } finally {
      await daemon.stop();
    }
  });

  it('--pressure-guard off does nothing, even with a floor above all the host has', async () => {
    const stateDir = newStateDir();
    // With the guard on, this floor would stop every run at once.
    const daemon = await startDaemon(stateDir, ['--pressure-guard', 'off', '--min-available', '1P']);
    try {
      expect(daemon.log()).toMatch(/pressure guard off/);
      const script = 'import time\nx = b"\\x01" * (64 << 20)\ntime.sleep(1.5)';
      const result = await startWrapper(['--quiet', '--analysis-id', 'guard-off', '--', 'python3', '-c', script], { tag, stateDir, env: NO_DATABASE });
      expect(result.exitCode, result.stderr).toBe(0);
      const status = await daemon.status();
      expect(status.pressure_guard).toMatchObject({ enabled: false, stops: 0, last_stop: null });
      expect(status.pressure_guard.mem_available_bytes).toBeGreaterThan(0);
      expect(metric(await daemon.metrics(), 'scidex_pressure_guard_min_available_bytes')).toBe(0);
      expect(daemon.log()).not.toMatch(/host memory pressure/);
    } finally {
      await daemon.stop();
    }
  });
});
