/**
 * One round of the pressure guard (src/watchdog/pressure-stop.ts) in this process, with real
 * wrappers and real processes: what it measures and what it trusts. No host memory pressure is
 * needed: the candidate measurement and the round are called directly, with a crossing made up
 * by the test (the guard's trigger has unit tests of its own, test/unit/pressure.test.ts).
 */
import { appendFileSync, closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { killSurvivors, ownedTag } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { readMarker } from '../../src/record/markers.js';
import { readJournal } from '../../src/record/journal.js';
import type { RunRecord } from '../../src/record/types.js';
import { readStat } from '../../src/proc/stat.js';
import { pssOrFreshRssBytes } from '../../src/proc/memory.js';
import type { Crossing, GuardSettings } from '../../src/watchdog/pressure-guard.js';
import { JOURNAL_TAIL_BYTES, JournalTail, measureCandidates, stopForPressure } from '../../src/watchdog/pressure-stop.js';

const MiB = 1024 ** 2;
const tag = ownedTag();

afterAll(async () => {
  expect(await killSurvivors(tag)).toEqual([]);
});

/** A root run (--tracking pgroup: members by cookie) holding little memory until `release` exists. */
async function smallRootRun(release: string, env: Record<string, string> = {}) {
  const stateDir = newStateDir();
  const script = 'import os, sys, time\nx = bytearray(8 << 20)\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.05)';
  const run = startWrapper(['--quiet', '--tracking', 'pgroup', '--grace', '1s', '--analysis-id', 'guard-measure', '--', 'python3', '-c', script, release], { tag, stateDir, env });
  const record = await until(`the run to start (exit ${run.exitCode})`, () => {
    const record = journalSoFar(stateDir)?.runs.at(-1);
    return record?.pid && existsSync(join(stateDir, 'running', `${record.id}.json`)) ? record : undefined;
  }, 60_000, { every: 50 });
  return { run, stateDir, runId: record.id, leader: { pid: record.pid!, starttime: record.leader_starttime! } };
}

describe('what the guard measures', () => {
  it("counts only the marker owner's processes: another user's process carrying root's run's cookie is not the run's", async ({ skip }) => {
    if (process.getuid?.() !== 0) return skip('not running as root');
    if ((await execa('runuser', ['-u', 'nobody', '--', 'true'], { reject: false })).exitCode !== 0) return skip('runuser -u nobody does not work here');
    const release = join(newStateDir(), 'release');
    const { run, stateDir, runId } = await smallRootRun(release);
    // nobody's hog: 256 MiB touched, with root's run's cookie (run ids are public: the lifeline's argv).
    const hogScript = 'import sys, time\nx = bytearray(256 << 20)\nx[::4096] = b"\\x01" * ((256 << 20) // 4096)\nprint("ready", flush=True)\ntime.sleep(60)';
    const hog = execa('runuser', ['-u', 'nobody', '--', 'env', `SCIDEX_RUN_ID=${runId}`, `SCIDEX_TEST_TAG=${tag}`, 'python3', '-c', hogScript], { reject: false, stdin: 'ignore' });
    let out = '';
    let hogPid: number | undefined;
    hog.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await until(() => `nobody's hog to hold its memory (exit ${hog.exitCode})`, () => out.includes('ready'), 60_000, { every: 50 });
      // runuser forks the command: the hog is its child.
      hogPid = Number(readFileSync(`/proc/${hog.pid}/task/${hog.pid}/children`, 'utf8').trim().split(' ')[0]) || hog.pid!;
      expect(readFileSync(`/proc/${hogPid}/environ`, 'latin1')).toContain(`SCIDEX_RUN_ID=${runId}`);
      const candidate = measureCandidates(stateDir, new Map()).find((found) => found.marker.id === runId);
      expect(candidate).toBeDefined();
      // The run holds ~8 MiB and a python; the hog's 256 MiB would be counted without the owner check.
      expect(candidate!.pssBytes).toBeGreaterThan(0);
      expect(candidate!.pssBytes).toBeLessThan(128 * MiB);
    } finally {
      if (hogPid !== undefined && hogPid > 1 && hogPid !== hog.pid) process.kill(hogPid, 'SIGKILL');
      hog.kill('SIGKILL');
      await hog;
      await execa('touch', [release]);
      await run;
    }
  });
});

/** VmHWM or VmRSS of this process, bytes. */
function selfMemory(field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'latin1'));
  if (!match) throw new Error(`no ${field} in /proc/self/status`);
  return Number(match[1]) * 1024;
}

const GiB = 1024 ** 3;
/** A test's bound: a wrapper's start and its failpoint, then the round's waits, each slow on a host loaded by the suite. */
const SEVERAL_STARTS_MS = 180_000;
const settings: GuardSettings = { minAvailableBytes: GiB, maxMemoryPressure: 40, pressureDurationMs: 10_000 };
/** A crossing made up for the round: the round acts on whatever it is given. */
function crossing(): Crossing {
  return { threshold: 'min_available', crossedAtMs: Date.now(), reading: { atMs: Date.now(), memAvailableBytes: GiB / 2, memTotalBytes: 16 * GiB, psiFullAvg10: null } };
}

/**
 * A round's log that keeps its lines and does `act` once, when the round says it stops the run
 * (`...; stopping run <id>, ...`: the request is delivered) and the wrapper has stopped itself at the
 * failpoint pressure-request-taken (state T: it took the request and wrote nothing since, nor will).
 * The log call blocks until then: the round's window for the wrapper to act (MIN_ACT_MS,
 * pressure-stop.ts) starts after it returns, so `act` lands first in that window however slowly a
 * loaded host runs the wrapper; polling from the test's event loop once came too late.
 */
function onStopping(runId: string, wrapperPid: number, lines: string[], act: () => void): (line: string) => void {
  let done = false;
  return (line) => {
    lines.push(line);
    if (done || !line.includes(`stopping run ${runId}`)) return;
    done = true;
    blockUntil(`wrapper ${wrapperPid} to stop at pressure-request-taken`, () => readStat(wrapperPid)?.state === 'T');
    act();
  };
}

/** Blocks this thread, 10 ms at a time (Atomics.wait), until `probe` holds: a wait inside a synchronous callback. @throws after 60 s */
function blockUntil(what: string, probe: () => boolean): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const end = Date.now() + 60_000;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    Atomics.wait(cell, 0, 0, 10);
  }
}

describe('what the guard trusts of a journal (the run\'s user\'s file)', () => {
  it('reads at most JOURNAL_TAIL_BYTES per poll: a sparse 3 GiB journal does not grow its memory', () => {
    const path = join(newStateDir(), 'journal.jsonl');
    writeFileSync(path, '{"table":"events","record":{"kind":"sample"}}\n');
    const tail = new JournalTail(path);
    const fd = openSync(path, 'r+');
    ftruncateSync(fd, 3 * GiB);
    closeSync(fd);
    const before = selfMemory('VmHWM');
    for (let poll = 0; poll < 5; poll++) expect(tail.read()).toEqual([]);
    // A line appended after the hole is still seen.
    appendFileSync(path, '\n{"table":"runs","record":{"ended_at":"2026-01-01T00:00:00.000Z"}}\n');
    expect(tail.read()).toHaveLength(1);
    expect(tail.ended).toBe(true);
    expect(selfMemory('VmHWM') - before).toBeLessThan(64 * 1024 ** 2);
    expect(JOURNAL_TAIL_BYTES).toBe(64 * 1024);
  });

  it('takes the run over when its journal shows a stop (a forged cancel_requested line) but the run does not end', async () => {
    const release = join(newStateDir(), 'release');
    const { run, stateDir, runId } = await smallRootRun(release, { SCIDEX_FAILPOINTS: 'pressure-request-taken' });
    const lines: string[] = [];
    try {
      // The run's user appends what a wrapper that acted would write; the wrapper itself never acts
      // (it stops itself at the failpoint once it took the request): appended then (onStopping).
      const forge = () => appendFileSync(join(stateDir, 'journal', `${runId}.jsonl`), `${JSON.stringify({ table: 'events', record: { run_id: runId, kind: 'cancel_requested', at: new Date().toISOString() } })}\n`);
      const round = stopForPressure(crossing(), settings, { stateDir, asked: new Map(), log: onStopping(runId, readMarker(stateDir, runId)!.wrapper_pid, lines, forge) });
      const stop = await round;
      expect(stop, lines.join('\n')).toMatchObject({ run_id: runId, by: 'daemon' });
      const result = await run;
      expect(result.signal).toBe('SIGKILL');
      const runs = readJournal(join(stateDir, 'journal', `${runId}.jsonl`)).entries.filter((entry) => entry.table === 'runs');
      expect(runs.at(-1)?.record).toMatchObject({ status: 'out_of_memory', exit_status: 137, reason: 'host_pressure' });
      expect(lines.join('\n')).toMatch(/did not end the run within .* \(its journal shows a stop\); the daemon killed it and the run's tree/);
      const lost = readJournal(join(stateDir, 'journal', `${runId}.jsonl`)).entries.find((entry) => entry.table === 'events' && entry.record.kind === 'run_lost');
      expect(lost?.record).toMatchObject({ detail: expect.objectContaining({ wrapper_killed: true }) });
    } finally {
      writeFileSync(release, '');
      await run;
    }
  }, SEVERAL_STARTS_MS);
  it("kills the tree when its journal shows the run's end (a forged final version) but the wrapper lives on, and journals nothing after that end", async () => {
    const release = join(newStateDir(), 'release');
    const { run, stateDir, runId, leader } = await smallRootRun(release, { SCIDEX_FAILPOINTS: 'pressure-request-taken' });
    const journal = join(stateDir, 'journal', `${runId}.jsonl`);
    const lines: string[] = [];
    try {
      // The run's user writes the end a wrapper would write, the journal's last line, once the wrapper
      // stopped at the failpoint (onStopping); the tree goes on holding its memory.
      const last = readJournal(journal).entries.filter((entry) => entry.table === 'runs').at(-1)!.record as RunRecord;
      const forged = { ...last, revision: last.revision + 1, status: 'completed', exit_status: 0, exit_code: 0, ended_at: new Date().toISOString() };
      const round = stopForPressure(crossing(), settings, { stateDir, asked: new Map(), log: onStopping(runId, readMarker(stateDir, runId)!.wrapper_pid, lines, () => appendFileSync(journal, `${JSON.stringify({ table: 'runs', record: forged })}\n`)) });
      const stop = await round;
      const log = lines.join('\n');
      expect(stop, log).toMatchObject({ run_id: runId, by: 'daemon' });
      expect(log).toMatch(/its journal ends the run, but \d+ of its processes were still there: the daemon killed them/);
      expect((await run).signal).toBe('SIGKILL');
      expect(readStat(leader.pid)?.starttime === leader.starttime && readStat(leader.pid)?.state !== 'Z', log).toBe(false);
      // Nothing after an ending (docs/records.md): the forged version stays the journal's last line.
      expect(readJournal(journal).entries.at(-1)).toEqual({ table: 'runs', record: forged });
    } finally {
      writeFileSync(release, '');
      await run;
    }
  }, SEVERAL_STARTS_MS);
});

describe('a wrapper that dies without acting', () => {
  it('is taken over at once (the tree killed, host_pressure), not counted as a wrapper that acted', async () => {
    const release = join(newStateDir(), 'release');
    const { run, stateDir, runId, leader } = await smallRootRun(release, { SCIDEX_FAILPOINTS: 'pressure-request-taken' });
    const marker = readMarker(stateDir, runId)!;
    const lines: string[] = [];
    try {
      // What the kernel's OOM killer does to a wrapper: SIGKILL, right after it took the request (it
      // stopped itself at the failpoint: onStopping).
      expect(marker.wrapper_pid).toBeGreaterThan(1);
      const round = stopForPressure(crossing(), settings, { stateDir, asked: new Map(), log: onStopping(runId, marker.wrapper_pid, lines, () => process.kill(marker.wrapper_pid, 'SIGKILL')) });
      const stop = await round;
      const log = lines.join('\n');
      // The lifeline's reaper may take the marker's lock first: then the round waits for it to finish the run.
      expect(['daemon', 'reaper'], log).toContain(stop?.by);
      expect(existsSync(join(stateDir, 'running', `${runId}.json`)), log).toBe(false);
      if (stop?.by === 'daemon') {
        const { entries } = readJournal(join(stateDir, 'journal', `${runId}.jsonl`));
        expect(entries.filter((entry) => entry.table === 'runs').at(-1)?.record).toMatchObject({ status: 'out_of_memory', exit_status: 137, reason: 'host_pressure' });
        const events = entries.filter((entry) => entry.table === 'events').map((entry) => entry.record as { kind: string; reason: string | null; signal?: string });
        expect(events.filter((event) => event.kind === 'signal_sent').map((event) => `${event.reason} ${event.signal}`)).toContain('host_pressure SIGKILL');
        // It died by itself: the log and the run_lost event say so, not that the daemon killed it.
        expect(/died before it ended the run; it was dead when the daemon took the run over; the daemon killed the run's tree \(\d+ processes signalled/.test(log), log).toBe(true);
        expect(events.find((event) => event.kind === 'run_lost')).toMatchObject({ reason: 'host_pressure', detail: expect.objectContaining({ wrapper_killed: false }) });
      }
      // Either way the tree is gone when the round returns: the next victim is chosen with its memory back.
      expect(readStat(leader.pid)?.starttime === leader.starttime && readStat(leader.pid)?.state !== 'Z', log).toBe(false);
    } finally {
      writeFileSync(release, '');
      await run;
    }
  }, SEVERAL_STARTS_MS);
});

describe("a member's PSS", () => {
  it("is 0 for a pid that names another process now (another starttime), though its smaps_rollup is readable", () => {
    const self = readStat(process.pid)!;
    expect(pssOrFreshRssBytes(process.pid, self.starttime)).toBeGreaterThan(0);
    expect(pssOrFreshRssBytes(process.pid, self.starttime + 1)).toBe(0);
  });
});
