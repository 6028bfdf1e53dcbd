/**
 * `scidex-watchdog cancel`: real wrappers, a real PostgreSQL. The same-host path signals the
 * wrapper named by the marker; the other-host path is exercised on this one machine by giving the
 * CLI a state directory without the run's marker, so that it has to go through PostgreSQL, and by
 * running the run host's listener (listenForCancels) in the test process with the real state dir.
 */
import { existsSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { readJournal } from '../../src/record/journal.js';
import { listMarkers } from '../../src/record/markers.js';
import { listenForCancels } from '../../src/watchdog/cancel-delivery.js';
import { sharedClient } from '../helpers/database.js';
import { foreignSleep, forgeRun } from '../helpers/lost-runs.js';
import { ownedTag, tagged } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));
const tag = ownedTag();
const db = sharedClient();

/** scidex-watchdog with the test database and nothing of the caller's environment's database. */
function watchdog(args: string[], database = true) {
  return execa(WATCHDOG, database ? [...args, '--database-url', db.url] : args, {
    reject: false,
    env: { DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_RUN_DATABASE_URL: undefined, SCIDEX_RUN_STATE_DIR: undefined },
  });
}

beforeAll(async () => {
  expect((await watchdog(['migrate'])).exitCode).toBe(0);
});

function emptyStateDir(): string {
  return mkdtempSync(join(tmpdir(), 'scidex-empty-'));
}

/** Waits for a marker not in `before` to appear in `stateDir`; returns its run id. */
function newMarker(stateDir: string, before: readonly string[]): Promise<string> {
  // A bound for a host loaded many times over, where a wrapper took more than 20 s to reach its marker.
  return until('the run marker', () => listMarkers(stateDir).find((id) => !before.includes(id)), 60_000);
}

/** Starts `sleep 300` under a wrapper recording into the test database; resolves once it has started (journal and DB). */
async function startRun(analysisId: string, stateDir = newStateDir()) {
  const before = listMarkers(stateDir);
  const wrapper = startWrapper(['--quiet', '--grace', '5s', '--database-url', db.url, '--analysis-id', analysisId, '--', 'sleep', '300'], { tag, stateDir });
  const runId = await newMarker(stateDir, before);
  const journal = join(stateDir, 'journal', `${runId}.jsonl`);
  await until('the run to start', () => existsSync(journal) && readJournal(journal).entries.some((entry) => entry.table === 'events' && entry.record.kind === 'run_started'));
  // The start is shipped in the background: the row (and, on a fresh database, the table) comes a moment later.
  const shipped = () => db.client().query(`SELECT 1 FROM watchdog_runs WHERE id = $1 AND status = 'running'`, [runId]).then((result) => result.rowCount === 1, () => undefined);
  await until('the run row', shipped);
  return { wrapper, runId, stateDir };
}

async function runRow(runId: string) {
  return (await db.client().query('SELECT status, exit_status, reason FROM watchdog_runs WHERE id = $1', [runId])).rows[0];
}

async function cancelEvent(runId: string) {
  return (await db.client().query(`SELECT signal, reason, detail FROM watchdog_events WHERE run_id = $1 AND kind = 'cancel_requested'`, [runId])).rows;
}

async function requestsOf(runId: string) {
  return (await db.client().query('SELECT signal, reason, requested_by, handled_at, handled_by, outcome FROM watchdog_cancel_requests WHERE run_id = $1', [runId])).rows;
}

describe('scidex-watchdog cancel on the same host', () => {
  it('cancels the running run of --analysis-id through its wrapper: 143, cancelled, who and why recorded', async () => {
    const analysisId = `cancel-term-${tag}`;
    const { wrapper, runId, stateDir } = await startRun(analysisId);
    const started = performance.now();
    const cancel = await watchdog(['cancel', '--analysis-id', analysisId, '--reason', 'wrong input', '--state-dir', stateDir]);
    const result = await wrapper;
    const latency = performance.now() - started;
    console.log(`same host: cancel CLI call -> wrapper exit ${latency.toFixed(0)} ms`);
    expect(cancel.exitCode, cancel.stderr).toBe(0);
    expect(cancel.stderr).toContain(`run ${runId}: cancelled: SIGTERM sent to its wrapper`);
    expect(result.exitCode).toBe(143);
    expect(tagged(tag)).toEqual([]);
    const { runs, events, samples } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'cancelled', exit_status: 143, reason: 'cancelled: wrong input' });
    // A cancel is no breach (docs/records.md, "Tick samples"): the ring's ticks are not journaled.
    expect(samples.length).toBeGreaterThan(0);
    expect(samples.filter((sample) => sample.tick === true)).toEqual([]);
    const event = events.find((candidate) => candidate.kind === 'cancel_requested');
    expect(event).toMatchObject({ reason: 'cancelled', signal: 'SIGTERM', detail: { reason: 'wrong input', requested_by: expect.stringMatching(/^.+@.+ pid \d+$/) } });
    expect(await runRow(runId)).toMatchObject({ status: 'cancelled', exit_status: 143, reason: 'cancelled: wrong input' });
    expect((await cancelEvent(runId))[0].detail).toMatchObject({ reason: 'wrong input', requested_by: expect.stringContaining(' pid ') });
    expect(existsSync(join(stateDir, 'running', `${runId}.cancel`))).toBe(false);
    expect(await requestsOf(runId)).toEqual([]);
  });

  it('cancels a run by id with --signal INT: 130', async () => {
    const { wrapper, runId, stateDir } = await startRun(`cancel-int-${tag}`);
    const cancel = await watchdog(['cancel', runId.toUpperCase(), '--signal', 'INT', '--state-dir', stateDir], false);
    expect(cancel.exitCode, cancel.stderr).toBe(0);
    expect((await wrapper).exitCode).toBe(130);
    const { runs, events } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'cancelled', exit_status: 130, reason: 'cancelled' });
    expect(events.find((event) => event.kind === 'cancel_requested')).toMatchObject({ signal: 'SIGINT', detail: { reason: null } });
  });

  it('cancels every running run of an analysis, one line each', async () => {
    const analysisId = `cancel-many-${tag}`;
    const stateDir = newStateDir();
    const first = await startRun(analysisId, stateDir);
    const second = await startRun(analysisId, stateDir);
    const cancel = await watchdog(['cancel', '--analysis-id', analysisId, '--state-dir', stateDir]);
    expect(cancel.exitCode, cancel.stderr).toBe(0);
    expect(cancel.stderr.trim().split('\n')).toHaveLength(2);
    expect((await first.wrapper).exitCode).toBe(143);
    expect((await second.wrapper).exitCode).toBe(143);
  });

  it('waits for a wrapper still starting to catch the signal, so an early cancel still cancels', async () => {
    const stateDir = newStateDir();
    const wrapper = startWrapper(['--quiet', '--', 'sleep', '300'], { tag, stateDir });
    // As soon as the marker exists: the wrapper may not have installed its signal handlers yet.
    const runId = await newMarker(stateDir, []);
    const cancel = await watchdog(['cancel', runId, '--reason', 'early', '--state-dir', stateDir], false);
    expect(cancel.exitCode, cancel.stderr).toBe(0);
    expect((await wrapper).exitCode).toBe(143);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'cancelled', reason: 'cancelled: early' });
  });

  it('pins no stale request file on a plain signal', async () => {
    const { wrapper, runId, stateDir } = await startRun(`cancel-stale-${tag}`);
    const stale = { signal: 'SIGTERM', reason: 'old', requested_by: 'someone@else pid 1', requested_at: new Date(Date.now() - 10 * 60_000).toISOString() };
    const file = join(stateDir, 'running', `${runId}.cancel`);
    writeFileSync(file, JSON.stringify(stale), { mode: 0o600 });
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(file, old, old);
    wrapper.kill('SIGTERM');
    expect((await wrapper).exitCode).toBe(143);
    const { runs, events } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'cancelled', reason: 'cancelled' });
    expect(events.find((event) => event.kind === 'cancel_requested')!.detail).toEqual({});
    expect(existsSync(join(stateDir, 'running', `${runId}.cancel`))).toBe(false);
  });
});

describe('scidex-watchdog cancel through PostgreSQL (another host)', () => {
  it('queues a request that the run host\'s listener delivers on its notification (the 2 s target is timed by the bench)', async () => {
    const { wrapper, runId, stateDir } = await startRun(`cancel-remote-${tag}`);
    const errors: unknown[] = [];
    // No look without a notification within the test: what is delivered came by the request's NOTIFY.
    const listener = listenForCancels({ url: db.url, display: 'test' }, stateDir, (error) => errors.push(error), 3_600_000);
    try {
      await listener.ready;
      const started = Date.now();
      const cancel = await watchdog(['cancel', runId, '--reason', 'from afar', '--state-dir', emptyStateDir()]);
      const result = await wrapper;
      const exitLatency = Date.now() - started;
      expect(cancel.exitCode, cancel.stderr).toBe(0);
      expect(cancel.stderr).toContain('SIGTERM delivered to its wrapper on');
      expect(result.exitCode).toBe(143);
      const [event] = await cancelEvent(runId);
      expect(event.detail).toMatchObject({ reason: 'from afar', requested_by: expect.stringContaining(' pid '), request_id: expect.any(String), requested_role: expect.any(String) });
      // Taking effect: when the wrapper recorded the cancel, from the CLI's start (same clock, same host).
      const { events } = journalOf(stateDir);
      const tookEffect = Date.parse(events.find((candidate) => candidate.kind === 'cancel_requested')!.at) - started;
      const [request] = await requestsOf(runId);
      const fromRequest = Date.parse(events.find((candidate) => candidate.kind === 'cancel_requested')!.at) - Date.parse(event.detail.requested_at);
      console.log(`through PostgreSQL: cancel CLI call -> cancel_requested ${tookEffect} ms (request asked -> wrapper took it ${fromRequest} ms), -> wrapper exit ${exitLatency} ms`);
      // How soon is measured where timing belongs, by `npm run bench -- --only daemon` (BENCHMARKS.md);
      // that it came by the notification, not the fallback look, the listener's hour-long look says.
      expect(request).toMatchObject({ signal: 'SIGTERM', reason: 'from afar', outcome: 'delivered', handled_at: expect.any(Date), handled_by: expect.stringContaining(' pid ') });
      expect(await runRow(runId)).toMatchObject({ status: 'cancelled', exit_status: 143, reason: 'cancelled: from afar' });
      expect(errors).toEqual([]);
    } finally {
      await listener.close();
    }
  });

  it('delivers a request whose notification was lost, by the listener\'s one-second look', async () => {
    const { wrapper, runId, stateDir } = await startRun(`cancel-lost-notify-${tag}`);
    const listener = listenForCancels({ url: db.url, display: 'test' }, stateDir, () => undefined);
    try {
      await listener.ready;
      // A row without its NOTIFY, as when the listener's connection was down at the time.
      await db.client().query(
        `INSERT INTO watchdog_cancel_requests (id, run_id, host, signal, reason, requested_by, requested_at)
         SELECT gen_random_uuid(), id, host, 'SIGTERM', 'no notify', 'test', now() FROM watchdog_runs WHERE id = $1`,
        [runId],
      );
      expect((await wrapper).exitCode).toBe(143);
      expect(await requestsOf(runId)).toEqual([expect.objectContaining({ outcome: 'delivered', reason: 'no notify' })]);
    } finally {
      await listener.close();
    }
  });

  it('says a request nobody picked up is queued (exit 1), and cancel --deliver delivers it', async () => {
    const { wrapper, runId, stateDir } = await startRun(`cancel-queued-${tag}`);
    const cancel = await watchdog(['cancel', runId, '--signal', 'SIGHUP', '--state-dir', emptyStateDir()]);
    expect(cancel.exitCode).toBe(1);
    expect(cancel.stderr).toMatch(/queued for host .*has not picked it up within 5 s/);
    expect(tagged(tag).length).toBeGreaterThan(0);
    const deliver = await watchdog(['cancel', '--deliver', '--state-dir', stateDir]);
    expect(deliver.exitCode, deliver.stderr).toBe(0);
    expect(deliver.stderr).toContain('handled 1 cancel request');
    expect((await wrapper).exitCode).toBe(129);
    expect(await requestsOf(runId)).toEqual([expect.objectContaining({ signal: 'SIGHUP', outcome: 'delivered' })]);
    const again = await watchdog(['cancel', '--deliver', '--state-dir', stateDir]);
    expect(again.stderr).toContain('handled 0 cancel requests');
  });
});

describe('scidex-watchdog cancel: bad input', () => {
  // A wrapper's start and ten CLI runs one after the other, each seconds long on a host loaded by the suite.
  it('refuses malformed input with 125 and touches no run', { timeout: 240_000 }, async () => {
    const { wrapper, runId, stateDir } = await startRun(`cancel-bad-${tag}`);
    for (const args of [
      ['cancel', 'not-a-uuid'],
      ['cancel', runId, '--signal', 'KILL'],
      ['cancel', runId, '--signal', 'USR1'],
      ['cancel', runId, '--signal', 'NOPE'],
      ['cancel'],
      ['cancel', runId, '--analysis-id', 'x'],
      ['cancel', runId, '--reason', 'a\nb'],
      ['cancel', runId, '--reason', 'a\u0085b'],
      ['cancel', runId, '--deliver'],
    ]) {
      const result = await watchdog([...args, '--state-dir', stateDir]);
      expect(result.exitCode, args.join(' ')).toBe(125);
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    expect(wrapper.exitCode).toBeNull();
    expect(await runRow(runId)).toMatchObject({ status: 'running' });
    expect(await requestsOf(runId)).toEqual([]);
    expect(await cancelEvent(runId)).toEqual([]);
    // Clean up by the product's own path.
    expect((await watchdog(['cancel', runId, '--state-dir', stateDir])).exitCode).toBe(0);
    expect((await wrapper).exitCode).toBe(143);
  });

  it('never signals a process a forged marker names: one that is no wrapper of the run, or a reused pid', async () => {
    const stateDir = newStateDir();
    const victim = foreignSleep({ SCIDEX_TEST_TAG: tag });
    try {
      const forged = forgeRun(stateDir, { wrapper_pid: victim.pid, wrapper_starttime: victim.starttime });
      const refused = await watchdog(['cancel', forged.id, '--state-dir', stateDir], false);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toContain(`pid ${victim.pid} does not hold the run's journal open: not its wrapper`);
      const reused = forgeRun(stateDir, { wrapper_pid: victim.pid, wrapper_starttime: victim.starttime - 1 });
      const gone = await watchdog(['cancel', reused.id, '--state-dir', stateDir], false);
      expect(gone.exitCode).toBe(1);
      expect(gone.stderr).toContain('already ended: its wrapper is gone');
      expect(tagged(tag)).toEqual([victim.pid]);
      expect(existsSync(join(stateDir, 'running', `${forged.id}.cancel`))).toBe(false);
    } finally {
      victim.stop();
    }
  });

  // A wrapper run and five CLI runs one after the other, each seconds long on a host loaded by the suite.
  it('says clearly, with exit 1, when the run does not exist, has ended, or the analysis runs nothing', { timeout: 180_000 }, async () => {
    const stateDir = newStateDir();
    const analysisId = `cancel-ended-${tag}`;
    expect((await startWrapper(['--quiet', '--database-url', db.url, '--analysis-id', analysisId, '--', 'true'], { tag, stateDir })).exitCode).toBe(0);
    const [{ id }] = (await db.client().query('SELECT id FROM watchdog_runs WHERE analysis_id = $1', [analysisId])).rows;

    const ended = await watchdog(['cancel', id, '--state-dir', stateDir]);
    expect(ended.exitCode).toBe(1);
    expect(ended.stderr.trim()).toBe(`scidex-watchdog: run ${id} already ended (status completed)`);
    const missing = await watchdog(['cancel', '00000000-0000-4000-8000-000000000000', '--state-dir', stateDir]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr.trim()).toBe('scidex-watchdog: no run 00000000-0000-4000-8000-000000000000');
    const idle = await watchdog(['cancel', '--analysis-id', analysisId, '--state-dir', stateDir]);
    expect(idle.exitCode).toBe(1);
    expect(idle.stderr.trim()).toBe(`scidex-watchdog: no running run of analysis ${analysisId}`);
    // Without a database the journal still here says the same.
    const offline = await watchdog(['cancel', id, '--state-dir', stateDir], false);
    expect(offline.exitCode).toBe(1);
    expect(offline.stderr.trim()).toBe(`scidex-watchdog: run ${id} already ended (status completed)`);
    const unknown = await watchdog(['cancel', id, '--state-dir', emptyStateDir()], false);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('no database configured');
    expect(await requestsOf(id)).toEqual([]);
    expect(await runRow(id)).toMatchObject({ status: 'completed', exit_status: 0 });
  });
});
