/**
 * The seconds before a kill (docs/records.md, "Tick samples"; src/supervise/tick-ring.ts): a run
 * killed for memory and one killed for its timeout journal the wrapper's last ticks as samples
 * marked `tick`, from the run's first scan to past the limit_exceeded event, with gaps no longer than
 * the slowest tick (1 s) plus slack for a loaded host, each naming the largest processes; a grace
 * period the command sits out (it ignores SIGTERM) is journaled tick by tick up to the SIGKILL.
 * No instant is journaled twice. Shipped with `scidex-watchdog ship` to a database of this file's
 * own, PostgreSQL holds the same tick rows once each, and the periodic samples (which carry neither
 * field, as an older journal's) ship as no ticks; `show` reads the same from the journal and from
 * PostgreSQL, and marks the ticks. A run the kernel's OOM killer stops at the backstop (where this
 * host gives runs one) journals its ticks too, up to the kernel's kill and past it.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { readJournal } from '../../src/record/journal.js';
import { isDead, readStat } from '../../src/proc/stat.js';
import type { EventRecord, JournalEntry, SampleRecord } from '../../src/record/types.js';
import { queryOnce } from '../helpers/database.js';
import { ownDatabase } from '../helpers/own-database.js';
import { ownedTag } from '../helpers/processes.js';
import { BIN, EXAMPLES, journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
/** Every variable that would configure a database: the runs keep their journals, `ship` sends them. */
const NO_DATABASE = Object.fromEntries(
  ['SCIDEX_RUN_DATABASE_URL', 'DATABASE_URL', 'PGHOST', 'PGHOSTADDR', 'PGDATABASE', 'PGSERVICE', 'PGPORT', 'PGUSER'].map((name) => [name, undefined]),
);
/**
 * The slowest tick of the default --poll-interval (100ms..1s), and slack for a host running the
 * suite beside us: a wrapper starved there ticks late. A ring that dropped ticks leaves gaps as
 * long as the run; the runs here last seconds, so the bounds still tell one from a late tick.
 */
const SLOWEST_TICK_MS = 1000;
const SLACK_MS = 5000;
const MIB = 2 ** 20;

/** What `--explain-tracking --json` says of the backstop a run gets here (kernel-backstop.test.ts). */
const { memory_backstop: backstop } = JSON.parse((await execa(BIN, ['--explain-tracking', '--json'])).stdout) as { memory_backstop: { hierarchy: string | null; why: string } };

const tag = ownedTag();
const database = ownDatabase('tick_ring');

beforeAll(() => database.create());
afterAll(() => database.drop());

const at = (record: { at: string }) => Date.parse(record.at);

/** The largest gap between consecutive samples, milliseconds. */
function largestGap(samples: readonly SampleRecord[]): number {
  return samples.slice(1).reduce((largest, sample, index) => Math.max(largest, at(sample) - at(samples[index])), 0);
}

/**
 * No scan journaled twice: a periodic or peak sample is never journaled beside a tick of the same
 * instant. Two ticks may share a millisecond: two scans of a freeze, back to back.
 */
function expectNoInstantTwice(samples: readonly SampleRecord[]): void {
  const seen = new Map<string, SampleRecord>();
  for (const sample of samples) {
    const before = seen.get(sample.at);
    if (before) expect([before.tick, sample.tick], sample.at).toEqual([true, true]);
    seen.set(sample.at, sample);
  }
}

/** The one journal in a state directory, its lines in order. */
function journalLines(stateDir: string): JournalEntry[] {
  const [file] = readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.jsonl'));
  return readJournal(join(stateDir, 'journal', file)).entries;
}

const isTick = (entry: JournalEntry): boolean => entry.table === 'samples' && (entry.record as SampleRecord).tick === true;

/**
 * What every killed run's journal must show: tick samples from its first scan to at least the
 * breach, no gap longer than the slowest tick plus slack before it, no instant twice, each naming
 * its largest processes (largest first, 5 at most). Returns the ticks and the limit_exceeded event.
 */
function checkTicks(stateDir: string, reason: string): { ticks: SampleRecord[]; breach: EventRecord; runId: string } {
  const { runs, events, samples } = journalOf(stateDir);
  const breach = events.find((event) => event.kind === 'limit_exceeded')!;
  expect(breach.reason).toBe(reason);
  const started = at(events.find((event) => event.kind === 'run_started')!);
  const ticks = samples.filter((sample) => sample.tick === true).sort((a, b) => at(a) - at(b));
  expect(ticks.length).toBeGreaterThan(3);
  // The ring reaches back to the run's first scan (the run lasted far less than its 60 s).
  expect(at(ticks[0]) - started).toBeLessThanOrEqual(SLOWEST_TICK_MS + SLACK_MS);
  expect(at(ticks.at(-1)!)).toBeGreaterThanOrEqual(at(breach));
  expect(largestGap(ticks.filter((tick) => at(tick) <= at(breach)))).toBeLessThanOrEqual(SLOWEST_TICK_MS + SLACK_MS);
  expectNoInstantTwice(samples);
  for (const tick of ticks) {
    expect(tick.top_processes!.length).toBe(Math.min(5, tick.process_count));
    const sizes = tick.top_processes!.map((process) => process.rss_bytes);
    expect(sizes).toEqual([...sizes].sort((a, b) => b - a));
  }
  // Periodic and peak samples carry neither field: what an older journal's samples look like.
  for (const sample of samples.filter((sample) => sample.tick !== true)) expect(Object.keys(sample)).not.toContain('top_processes');
  return { ticks, breach, runId: runs.at(-1)!.id };
}

/** Ships the journal to the file's database and checks it holds the same tick rows once each, and the periodic ones as no ticks. */
async function checkShipped(stateDir: string, runId: string): Promise<void> {
  const shipped = await execa(WATCHDOG, ['ship', '--state-dir', stateDir, '--database-url', database.url], { reject: false, env: NO_DATABASE });
  expect(shipped.exitCode, shipped.stderr).toBe(0);
  const { samples } = journalOf(stateDir);
  const rows = await queryOnce<{ id: string; tick: boolean; top_processes: unknown }>(
    database.url, 'SELECT id, tick, top_processes FROM watchdog_samples WHERE run_id = $1', [runId]);
  expect(rows.length).toBe(samples.length);
  const byId = new Map(rows.map((row) => [row.id, row]));
  for (const sample of samples) {
    const row = byId.get(sample.id)!;
    expect(row, sample.id).toBeDefined();
    expect(row.tick).toBe(sample.tick === true);
    expect(row.top_processes).toEqual(sample.top_processes ?? null);
  }
  const twice = await queryOnce(database.url, 'SELECT at FROM watchdog_samples WHERE run_id = $1 GROUP BY at HAVING count(*) > 1 AND NOT bool_and(tick)', [runId]);
  expect(twice).toEqual([]);
  // `show` reads the same from the journals and from PostgreSQL, and marks the ticks.
  const show = (args: string[]) => execa(WATCHDOG, ['show', runId, ...args], { reject: false, env: { ...NO_DATABASE, SCIDEX_RUN_STATE_DIR: stateDir } });
  const fromJournal = await show(['--json']);
  const fromDatabase = await show(['--json', '--database-url', database.url]);
  expect(fromJournal.exitCode, fromJournal.stderr).toBe(0);
  expect(JSON.parse(fromJournal.stdout).samples).toEqual(JSON.parse(fromDatabase.stdout).samples);
  expect((await show([])).stdout).toMatch(/^samples:\n.*\| peak +\| tick *\n(.*\n)*.*\| tick *\n/m);
}

describe('the seconds before a kill, journaled as tick samples', () => {
  it('a memory kill: ticks from the start to past the breach, the balloon named largest, PSS at the breach', async () => {
    const stateDir = newStateDir();
    // 8 MiB a step every 50 ms: the scan decides before the kernel backstop (memory.test.ts).
    const args = ['--quiet', '--memory-limit', '256MiB', '--grace', '2s', '--', 'python3', join(EXAMPLES, 'balloon.py'), '8', '4096'];
    const result = await startWrapper(args, { tag, stateDir, reportStall: true });
    expect(result.exitCode).toBe(137);
    const { ticks, breach, runId } = checkTicks(stateDir, 'memory');
    const leader = journalOf(stateDir).runs.at(-1)!.pid;
    // The scan that decided read PSS: its tick says so.
    const decided = ticks.filter((tick) => tick.pss_bytes !== null);
    expect(decided.length).toBeGreaterThan(0);
    expect(decided.at(-1)!.pss_bytes).toBeGreaterThan(256 * MIB);
    expect(at(decided.at(-1)!)).toBeLessThanOrEqual(at(breach));
    const last = ticks.filter((tick) => at(tick) <= at(breach)).at(-1)!;
    expect(last.rss_bytes).toBeGreaterThan(256 * MIB);
    expect(last.top_processes![0]).toMatchObject({ pid: leader, comm: 'python3' });
    expect(last.top_processes![0].rss_bytes).toBeGreaterThan(200 * MIB);
    await checkShipped(stateDir, runId);
  });

  it('a timeout: the grace period the command sits out is journaled tick by tick up to the SIGKILL', async () => {
    const stateDir = newStateDir();
    const holder = 'import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nheld = bytes([1]) * (64 << 20)\nprint("held", flush=True)\ntime.sleep(300)';
    // The timeout leaves a starved python3 start room to ignore SIGTERM and hold its 64 MiB first (3 s once was tight).
    const args = ['--quiet', '--timeout', '15s', '--grace', '2s', '--', 'python3', '-c', holder];
    const result = await startWrapper(args, { tag, stateDir, reportStall: true });
    expect(result.exitCode).toBe(124);
    const { ticks, breach, runId } = checkTicks(stateDir, 'timeout');
    const { events } = journalOf(stateDir);
    const killedAt = at(events.find((event) => event.kind === 'signal_sent' && event.signal === 'SIGKILL')!);
    const grace = ticks.filter((tick) => at(tick) >= at(breach) && at(tick) <= killedAt);
    // The grace period (2 s, a scan every 50 ms) has ticks all through it, the python3 holding its 64 MiB.
    expect(grace.length).toBeGreaterThan(5);
    expect(largestGap(grace)).toBeLessThanOrEqual(SLOWEST_TICK_MS + SLACK_MS);
    expect(killedAt - at(grace.at(-1)!)).toBeLessThanOrEqual(SLOWEST_TICK_MS + SLACK_MS);
    for (const tick of grace) {
      expect(tick.top_processes![0].comm).toBe('python3');
      expect(tick.top_processes![0].rss_bytes).toBeGreaterThan(64 * MIB);
    }
    // After the SIGKILL the tree is seen gone: the post-mortem ends at zero.
    expect(ticks.at(-1)).toMatchObject({ process_count: 0, rss_bytes: 0, top_processes: [] });
    await checkShipped(stateDir, runId);
  });

  it.skipIf(backstop.hierarchy === null)(`a kernel OOM kill at the backstop: ticks up to it and past it${backstop.hierarchy === null ? ` (skipped: no backstop here: ${backstop.why})` : ''}`, { timeout: 180_000 }, async () => {
    const stateDir = newStateDir();
    // 128 MiB steps and scans 30 s apart: only the kernel can stop it (kernel-backstop.test.ts).
    // The timeout is only a hang bound: minutes, so that a python3 start starved by the suite's load never lets it win.
    const args = ['--quiet', '--memory-limit', '300MiB', '--poll-interval', '30s', '--timeout', '2min', '--grace', '2s', '--',
      'python3', join(EXAMPLES, 'balloon.py'), '128', '1024'];
    const result = await startWrapper(args, { tag, stateDir, reportStall: true });
    expect(result.exitCode).toBe(137);
    const { runs, events, samples } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'out_of_memory', reason: 'kernel_oom' });
    const oom = events.find((event) => event.kind === 'kernel_oom_kill')!;
    const started = at(events.find((event) => event.kind === 'run_started')!);
    const ticks = samples.filter((sample) => sample.tick === true).sort((a, b) => at(a) - at(b));
    // The scan at the spawn (no other came before the kill), and the tree seen gone after it.
    expect(at(ticks[0]) - started).toBeLessThanOrEqual(SLACK_MS);
    expect(at(ticks.at(-1)!)).toBeGreaterThanOrEqual(at(oom) - SLACK_MS);
    expect(ticks.at(-1)).toMatchObject({ process_count: 0, top_processes: [] });
    expectNoInstantTwice(samples);
  });

  it('--grace 0: no tick line between the SIGTERM and the SIGKILL; the ticks held are all journaled after them', async () => {
    const stateDir = newStateDir();
    // Ignores SIGTERM, holds 20 MiB for 1 s of 10 ms scans, then grows 8 MiB every 20 ms: the scans stop it past 150 MiB.
    const hog = [
      'import signal, time',
      'signal.signal(signal.SIGTERM, signal.SIG_IGN)',
      'held = [bytes([1]) * (20 << 20)]',
      'time.sleep(1)',
      'while len(held) < 40:',
      '    held.append(bytes([1]) * (8 << 20))',
      '    time.sleep(0.02)',
      'time.sleep(300)',
    ].join('\n');
    const args = ['--quiet', '--memory-limit', '150M', '--grace', '0', '--poll-interval', '10ms', '--', 'python3', '-c', hog];
    const result = await startWrapper(args, { tag, stateDir, reportStall: true });
    expect(result.exitCode).toBe(137);
    const { ticks } = checkTicks(stateDir, 'memory');
    const lines = journalLines(stateDir);
    const signalLine = (signal: string) => lines.findIndex((entry) => entry.table === 'events' && (entry.record as EventRecord).kind === 'signal_sent' && (entry.record as EventRecord).signal === signal);
    const [term, kill] = [signalLine('SIGTERM'), signalLine('SIGKILL')];
    expect(term).toBeGreaterThan(-1);
    expect(kill).toBeGreaterThan(term);
    expect(lines.slice(term + 1, kill).filter(isTick)).toEqual([]);
    // What the ring held at the breach, from the run's first scan (checkTicks), and the scans of the
    // freeze between the signals: journaled after the SIGKILL, every one of them.
    expect(lines.slice(kill + 1).filter(isTick)).toHaveLength(ticks.length);
    const termAt = at(lines[term].record as EventRecord);
    expect(ticks.filter((tick) => at(tick) <= termAt).length).toBeGreaterThan(3);
  });

  it('a clean run that leaves an orphan is no breach: completed, the orphan ended (--orphans kill), no tick row', async () => {
    const stateDir = newStateDir();
    // The leader lives 1 s (ticks in the ring), and leaves a sleep behind.
    const result = await startWrapper(['--quiet', '--', 'sh', '-c', '(sleep 100 &); sleep 1; exit 0'], { tag, stateDir, reportStall: true });
    expect(result.exitCode).toBe(0);
    const { runs, events, processes, samples } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'completed', exit_status: 0 });
    const found = events.filter((event) => event.kind === 'orphan_found');
    expect(found).toHaveLength(1);
    // By its pid: a scan that met it between fork and exec recorded the subshell's argv.
    const orphan = processes.find((process) => process.pid === found[0].pid)!;
    expect(orphan.fate).toBe('terminated');
    // Gone, or a zombie its new parent has yet to reap.
    const stat = readStat(orphan.pid);
    expect(stat === undefined || stat.starttime !== orphan.starttime || isDead(stat)).toBe(true);
    expect(samples.length).toBeGreaterThan(0);
    expect(samples.filter((sample) => sample.tick === true)).toEqual([]);
  });
});
