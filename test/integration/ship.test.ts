import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { until } from '../helpers/until.js';
import { ownedTag } from '../helpers/processes.js';
import { releaseLock, takeLock } from '../../src/record/lock-file.js';
import { writeRecords } from '../../src/record/sql.js';
import { BIN, journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const database = sharedClient();
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
/** Nothing listens on port 1 of loopback: a database that is down. */
const DOWN = 'postgresql://postgres@127.0.0.1:1/test';

async function eventCount(analysisId: string): Promise<number> {
  const result = await database.client().query('SELECT count(*)::int AS n FROM watchdog_events WHERE analysis_id = $1', [analysisId]);
  return result.rows[0].n;
}

describe('records kept while PostgreSQL was down', () => {
  it('are shipped once by scidex-watchdog ship; bad lines are reported with file and line, the rest ship', async () => {
    const stateDir = newStateDir();
    const analysisId = `ship-${tag}`;
    const run = await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', DOWN, '--', 'sh', '-c', 'exit 3'], { tag, stateDir });
    expect(run.exitCode).toBe(3);
    const journal = readdirSync(join(stateDir, 'journal')).find((name) => name.endsWith('.jsonl'))!;
    expect(existsSync(join(stateDir, 'journal', journal.replace('.jsonl', '.shipped')))).toBe(false);
    // A garbage line with a terminal escape (it would retitle the window), then a torn last line.
    appendFileSync(join(stateDir, 'journal', journal), 'garbage \x1b]0;owned\x07 here\n{"table": "events", "rec');

    const ship = () => execa(WATCHDOG, ['ship', '--json', '--state-dir', stateDir, '--database-url', database.url], { reject: false });
    const first = await ship();
    expect(first.exitCode).toBe(0);
    expect(first.stderr).toMatch(new RegExp(`${journal}:\\d+: not a record, skipped`));
    expect(first.stderr).toContain(': not a record, skipped: garbage \\x1b]0;owned\\x07 here');
    expect(first.stderr).not.toContain('\x1b');
    expect(JSON.parse(first.stdout)).toMatchObject({ done: true });
    const runs = await database.client().query('SELECT status, exit_status FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
    expect(runs.rows).toEqual([{ status: 'failed', exit_status: 3 }]);
    const events = await eventCount(analysisId);
    expect(events).toBeGreaterThanOrEqual(2);

    // Marked shipped: a second sweep has nothing to do, and nothing is duplicated.
    expect((await ship()).stdout).toBe('');
    expect(await eventCount(analysisId)).toBe(events);
  });

  // Two wrapper runs and the background shipper's Node start, each slow on a host loaded by the suite.
  it('are shipped in the background by the next scidex-run with a database', { timeout: 180_000 }, async () => {
    const stateDir = newStateDir();
    const analysisId = `ship-later-${tag}`;
    await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', DOWN, '--', 'true'], { tag, stateDir });
    await startWrapper(['--quiet', '--database-url', database.url, '--', 'true'], { tag, stateDir });
    await until('both journals to be marked shipped', () => readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.shipped')).length === 2, 60_000);
    expect(await eventCount(analysisId)).toBeGreaterThanOrEqual(2);
  });

  it('sets aside, with the reason, records PostgreSQL refuses; the rest ship, and shipping again repeats nothing', async () => {
    const stateDir = newStateDir();
    const analysisId = `refused-${tag}`;
    await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', DOWN, '--', 'true'], { tag, stateDir });
    const name = readdirSync(join(stateDir, 'journal')).find((file) => file.endsWith('.jsonl'))!;
    const journal = join(stateDir, 'journal', name);
    const finished = journalOf(stateDir).events.at(-1)!;
    appendFileSync(journal, JSON.stringify({ table: 'events', record: { ...finished, id: randomUUID(), elapsed_ms: 'soon' } }) + '\n');
    appendFileSync(journal, JSON.stringify({ table: 'gossip', record: {} }) + '\n');

    const ship = () => execa(WATCHDOG, ['ship', '--state-dir', stateDir, '--database-url', database.url], { reject: false });
    const first = await ship();
    expect(first.exitCode).toBe(0);
    const rejectedFile = join(stateDir, 'rejected', name);
    expect(first.stderr).toContain(`2 records refused by PostgreSQL, set aside with the reason in ${rejectedFile}`);
    const rejected = () => readFileSync(rejectedFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(rejected().map((line) => line.code).sort()).toEqual(['22P02', 'not_a_record']);
    expect(rejected()[0]).toMatchObject({ journal, reason: expect.any(String), entry: expect.any(Object) });
    expect(await eventCount(analysisId)).toBe(2);

    rmSync(journal.replace('.jsonl', '.shipped'));
    expect((await ship()).exitCode).toBe(0);
    expect(rejected()).toHaveLength(2);
    expect(await eventCount(analysisId)).toBe(2);
  });

  it('keeps, without setting aside, events whose run row is not in yet (its line met a full disk), and ships them once it is', async () => {
    const stateDir = newStateDir();
    const analysisId = `deferred-${tag}`;
    await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', DOWN, '--', 'true'], { tag, stateDir });
    const name = readdirSync(join(stateDir, 'journal')).find((file) => file.endsWith('.jsonl'))!;
    const journal = join(stateDir, 'journal', name);
    const { runs, events } = journalOf(stateDir);
    // The run row's lines are gone from the journal, as when they met ENOSPC (the wrapper kept them in memory).
    writeFileSync(journal, events.map((record) => JSON.stringify({ table: 'events', record }) + '\n').join(''));

    const ship = () => execa(WATCHDOG, ['ship', '--json', '--state-dir', stateDir, '--database-url', database.url], { reject: false });
    const early = await ship();
    expect(early.exitCode, early.stderr).toBe(0);
    expect(existsSync(join(stateDir, 'rejected', name))).toBe(false);
    expect(await eventCount(analysisId)).toBe(0);

    await writeRecords(database.client(), { runs: [runs.at(-1)!] });
    const late = await ship();
    expect(late.exitCode, late.stderr).toBe(0);
    expect(existsSync(join(stateDir, 'rejected', name))).toBe(false);
    expect(await eventCount(analysisId)).toBe(events.length);
  });

  it('marks a journal whose last line never made it once PostgreSQL says its writers are done; never for a lost of another boot', async () => {
    const stateDir = newStateDir();
    const analysisId = `ending-from-memory-${tag}`;
    await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', DOWN, '--', 'true'], { tag, stateDir });
    const name = readdirSync(join(stateDir, 'journal')).find((file) => file.endsWith('.jsonl'))!;
    const journal = join(stateDir, 'journal', name);
    const lines = readFileSync(journal, 'utf8').trimEnd().split('\n');
    const ending = JSON.parse(lines.at(-1)!).record;
    expect(ending.status).toBe('completed');
    // The final version met a full disk: it is not in the journal, and reaches PostgreSQL from memory.
    writeFileSync(journal, lines.slice(0, -1).join('\n') + '\n');
    const ship = () => execa(WATCHDOG, ['ship', '--json', '--state-dir', stateDir, '--database-url', database.url], { reject: false });

    await writeRecords(database.client(), { runs: [{ ...ending, status: 'lost', reason: 'host_rebooted' }] });
    expect(JSON.parse((await ship()).stdout)).toMatchObject({ done: false });
    await writeRecords(database.client(), { runs: [ending] });
    expect(JSON.parse((await ship()).stdout)).toMatchObject({ done: true });
    expect(existsSync(journal.replace(/\.jsonl$/, '.shipped'))).toBe(true);
  });

  it('sets aside with their run row the records of a run PostgreSQL refuses, marks the journal, and a waiting shipper ends', async () => {
    const stateDir = newStateDir();
    const analysisId = `refused-row-${tag}`;
    await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', DOWN, '--', 'true'], { tag, stateDir });
    const name = readdirSync(join(stateDir, 'journal')).find((file) => file.endsWith('.jsonl'))!;
    const journal = join(stateDir, 'journal', name);
    const { runs, events, processes, samples } = journalOf(stateDir);
    // Every version of the row says it is nested in a run that is no UUID: PostgreSQL refuses the row (22P02).
    const entries = [
      ...runs.map((record) => ({ table: 'runs', record: { ...record, parent_run_id: 'not-a-uuid' } })),
      ...events.map((record) => ({ table: 'events', record })),
      ...processes.map((record) => ({ table: 'processes', record })),
      ...samples.map((record) => ({ table: 'samples', record })),
    ];
    writeFileSync(journal, entries.map((entry) => JSON.stringify(entry) + '\n').join(''));

    const shipped = await execa(WATCHDOG, ['ship', '--json', '--wait', '20s', '--state-dir', stateDir, '--database-url', database.url], { reject: false, timeout: 60_000 });
    expect(shipped.exitCode, shipped.stderr).toBe(0);
    expect(JSON.parse(shipped.stdout)).toMatchObject({ done: true, rejected: entries.length });
    const codes = readFileSync(join(stateDir, 'rejected', name), 'utf8').trim().split('\n').map((line) => JSON.parse(line).code);
    expect(new Set(codes)).toEqual(new Set(['22P02', '23503']));
    expect(await eventCount(analysisId)).toBe(0);
  });

  it('keeps an inherited SCIDEX_RUN_ID that is no run id out of parent_run_id', async () => {
    const stateDir = newStateDir();
    const run = await startWrapper(['--quiet', '--', 'true'], { tag, stateDir, env: { SCIDEX_RUN_ID: 'not-a-uuid' } });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ parent_run_id: null, status: 'completed' });
  });

  it('removes shipped journals past their retention, never unshipped ones', async () => {
    const stateDir = newStateDir();
    await startWrapper(['--quiet', '--database-url', database.url, '--', 'true'], { tag, stateDir });
    await startWrapper(['--quiet', '--database-url', DOWN, '--', 'true'], { tag, stateDir });
    const dir = join(stateDir, 'journal');
    const lastWeek = new Date(Date.now() - 8 * 24 * 3600_000);
    for (const name of readdirSync(dir)) utimesSync(join(dir, name), lastWeek, lastWeek);
    const [shipped] = readdirSync(dir).filter((name) => name.endsWith('.shipped'));
    const [unshipped] = readdirSync(dir).filter((name) => name.endsWith('.jsonl') && name !== shipped.replace('.shipped', '.jsonl'));

    // Any start sweeps: this one has no database, so nothing new gets shipped behind our back.
    await startWrapper(['--quiet', '--journal-retention', '7d', '--', 'true'], { tag, stateDir });
    const left = readdirSync(dir);
    expect(left).not.toContain(shipped);
    expect(left).not.toContain(shipped.replace('.shipped', '.jsonl'));
    expect(left).toContain(unshipped);
  });

  it('leaves a state directory to the one shipper at work on it', async () => {
    const stateDir = newStateDir();
    await startWrapper(['--quiet', '--database-url', DOWN, '--', 'true'], { tag, stateDir });
    const lock = join(stateDir, 'journal', '.ship.lock');
    // This test process stands in for a live shipper: it takes the lock as a shipper does.
    expect(takeLock(lock)).toBe(true);
    try {
      const busy = await execa(WATCHDOG, ['ship', '--state-dir', stateDir, '--database-url', database.url], { reject: false });
      expect(busy.exitCode).toBe(0);
      expect(busy.stderr).toContain('another scidex-watchdog ship is at work');
      expect(readdirSync(join(stateDir, 'journal')).some((name) => name.endsWith('.shipped'))).toBe(false);
    } finally {
      releaseLock(lock);
    }

    // A lock whose holder is gone is taken over.
    writeFileSync(lock, '999999999:1');
    const free = await execa(WATCHDOG, ['ship', '--state-dir', stateDir, '--database-url', database.url], { reject: false });
    expect(free.exitCode).toBe(0);
    expect(readdirSync(join(stateDir, 'journal')).some((name) => name.endsWith('.shipped'))).toBe(true);
    expect(existsSync(lock)).toBe(false);
  });
});
