/**
 * The records protocol (docs/records.md) under the two interleavings that lost whole runs: each is
 * forced, not hoped for. A failpoint (src/sys/failpoint.ts) stops a process of ours at the exact
 * point; the test waits until /proc says it is stopped there, plays the other side, and resumes it.
 *   1. A shipper lists a journal that was just created, before its run has a marker.
 *   2. A shipper has written a running run's lines when the run ends (its wrapper, with no
 *      database, cannot ship its own ending).
 * In both, a shipper that marked the journal shipped from what it did not read lost the run's end
 * for good: nothing ships a marked journal again.
 *   3. A wrapper whose journal lost lines to a full disk shipped newer running versions from memory,
 *      then died: the reaper, reading only the journal, numbers its ending below what PostgreSQL
 *      holds. An ending must still win over any running version (seen in the stress harness).
 *   4. A wrapper killed between creating its journal and writing its marker leaves an empty journal
 *      that no reaper will ever finish: a shipper removes it once no process writes to it (seen in
 *      the stress harness, a wrapper SIGKILLed 5.9 s after its start on a loaded host).
 */
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { forgeRun, stoppedAtFailpoint } from '../helpers/lost-runs.js';
import { ABANDONED_JOURNAL_AGE_MS } from '../../src/record/journal-files.js';
import { writeRecords } from '../../src/record/sql.js';
import { migrate } from '../../src/record/migrate.js';
import type { RunRecord } from '../../src/record/types.js';
import { ownedTag } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { BIN, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const database = sharedClient();
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');

function journalsOf(stateDir: string): string[] {
  return readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.jsonl'));
}

function markedShipped(stateDir: string, journal: string): boolean {
  return existsSync(join(stateDir, 'journal', journal.replace(/\.jsonl$/, '.shipped')));
}

function ship(stateDir: string, env: Record<string, string> = {}) {
  return execa(WATCHDOG, ['ship', '--json', '--state-dir', stateDir, '--database-url', database.url], {
    reject: false,
    env: { SCIDEX_TEST_TAG: tag, ...env },
  });
}

async function runRow(analysisId: string): Promise<{ status: string } | undefined> {
  const result = await database.client().query('SELECT status FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
  return result.rows[0];
}

async function eventKinds(analysisId: string): Promise<string[]> {
  const result = await database.client().query('SELECT kind FROM watchdog_events WHERE analysis_id = $1 ORDER BY at, kind', [analysisId]);
  return result.rows.map((row) => row.kind);
}

describe('the records protocol: a journal is finished by its own last line, never by a missing marker', () => {
  it('an empty journal is removed once its wrapper is gone, never while it lives', async () => {
    const stateDir = newStateDir();
    const run = startWrapper(['--quiet', '--', 'true'], { tag, stateDir, env: { SCIDEX_FAILPOINTS: 'journal-created' } });
    const wrapper = await stoppedAtFailpoint(run.pid);
    const [journal] = journalsOf(stateDir);
    const path = join(stateDir, 'journal', journal);
    // Older than the age a shipper waits for, so that only the writer check can keep it.
    const old = (Date.now() - 2 * ABANDONED_JOURNAL_AGE_MS) / 1000;
    utimesSync(path, old, old);
    const living = await ship(stateDir);
    expect(living.exitCode, living.stderr).toBe(0);
    expect(existsSync(path)).toBe(true);

    process.kill(wrapper, 'SIGKILL');
    expect((await run).signal).toBe('SIGKILL');
    utimesSync(path, old, old);
    const dead = await ship(stateDir);
    expect(dead.exitCode, dead.stderr).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(join(stateDir, 'running')) ? readdirSync(join(stateDir, 'running')) : []).toEqual([]);
  });

  it('a shipper that lists a journal before its run has a marker does not mark it shipped', async () => {
    const stateDir = newStateDir();
    const analysisId = `protocol-marker-${tag}`;
    const run = startWrapper(['--quiet', '--analysis-id', analysisId, '--', 'true'], { tag, stateDir, env: { SCIDEX_FAILPOINTS: 'journal-created' } });
    const wrapper = await stoppedAtFailpoint(run.pid);
    const [journal] = journalsOf(stateDir);
    expect(statSync(join(stateDir, 'journal', journal)).size).toBe(0);
    expect(existsSync(join(stateDir, 'running')) ? readdirSync(join(stateDir, 'running')) : []).toEqual([]);

    try {
      const early = await ship(stateDir);
      expect(early.exitCode, early.stderr).toBe(0);
      expect(markedShipped(stateDir, journal)).toBe(false);
    } finally {
      process.kill(wrapper, 'SIGCONT');
    }
    expect((await run).exitCode).toBe(0);
    const late = await ship(stateDir);
    expect(late.exitCode, late.stderr).toBe(0);
    expect(markedShipped(stateDir, journal)).toBe(true);
    expect(await runRow(analysisId)).toMatchObject({ status: 'completed' });
    expect(await eventKinds(analysisId)).toEqual(['run_started', 'run_finished']);
  });

  it('a shipper whose run ends while it writes does not mark the journal shipped with the ending missing', async () => {
    const stateDir = newStateDir();
    const analysisId = `protocol-ending-${tag}`;
    const gate = join(stateDir, 'gate');
    const run = startWrapper(
      ['--quiet', '--analysis-id', analysisId, '--', 'sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.02; done', 'sh', gate],
      { tag, stateDir },
    );
    const runStarted = () => journalsOf(stateDir).some((name) => statSync(join(stateDir, 'journal', name)).size > 0);
    await until('the run to start its journal', () => existsSync(join(stateDir, 'journal')) && runStarted(), 60_000);
    const [journal] = journalsOf(stateDir);

    const shipper = ship(stateDir, { SCIDEX_FAILPOINTS: 'ship-written' });
    const stopped = await stoppedAtFailpoint(shipper.pid);
    try {
      expect(await runRow(analysisId)).toMatchObject({ status: 'running' });
      writeFileSync(gate, '');
      expect((await run).exitCode).toBe(0);
      expect(existsSync(join(stateDir, 'running', `${journal.replace(/\.jsonl$/, '')}.json`))).toBe(false);
    } finally {
      writeFileSync(gate, '');
      process.kill(stopped, 'SIGCONT');
    }
    // Its first pass must leave the journal unmarked; seeing it finished and unmarked, the same
    // shipper's drain takes it again, whole this time (a marked journal is never shipped again).
    const shipped = await shipper;
    expect(shipped.exitCode, shipped.stderr).toBe(0);
    expect(JSON.parse(shipped.stdout)).toMatchObject({ done: true });
    expect(markedShipped(stateDir, journal)).toBe(true);
    expect(await runRow(analysisId)).toMatchObject({ status: 'completed' });
    expect(await eventKinds(analysisId)).toEqual(['run_started', 'run_finished']);
  });

  it('an ending outranks every running version: a reaper whose journal lacks the newest ones still ends the row', async () => {
    await migrate(database.client());
    const stateDir = newStateDir();
    const analysisId = `protocol-ranked-${tag}`;
    // The journal holds r1; PostgreSQL holds r3, shipped from memory while the disk was full.
    const run = forgeRun(stateDir, { analysis_id: analysisId });
    await writeRecords(database.client(), { runs: [{ ...(run as RunRecord), revision: 3, heartbeat_at: new Date().toISOString() }] });
    const reaped = await execa(WATCHDOG, ['reap', '--json', '--run', run.id, '--state-dir', stateDir, '--database-url', database.url], {
      reject: false,
      env: { SCIDEX_TEST_TAG: tag },
    });
    expect(reaped.exitCode, reaped.stderr).toBe(0);
    expect(reaped.stdout).toContain('"verdict":"lost"');
    expect(await runRow(analysisId)).toMatchObject({ status: 'lost' });
    expect(await eventKinds(analysisId)).toEqual(['run_lost']);
  });
});
