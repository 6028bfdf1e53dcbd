/**
 * Issue 4, "never lose a record": a database that is down never changes a run's behaviour or exit
 * status, and once it is back every record of every journal arrives exactly once. The outages are
 * real: a throwaway PostgreSQL server of this file's own, stopped (fast shutdown), killed (immediate
 * shutdown, as in a crash) and started again while real wrappers run.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listPids } from '../../src/proc/list.js';
import { readStat } from '../../src/proc/stat.js';
import { readJournal } from '../../src/record/journal.js';
import type { EventRecord, JournalEntry, ProcessRecord, RunRecord, SampleRecord } from '../../src/record/types.js';
import { aliveWith } from '../helpers/lost-runs.js';
import { ownedTag, tagged } from '../helpers/processes.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../helpers/throwaway-postgres.js';
import { until } from '../helpers/until.js';
import { BIN, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');

/** One statement on a connection of its own: the server may come and go between two calls. */
async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What the journals of some state directories hold: each run as its last version, and every other record. */
interface Journaled {
  runs: RunRecord[];
  events: EventRecord[];
  processes: ProcessRecord[];
  samples: SampleRecord[];
}

function journaled(stateDirs: readonly string[]): Journaled {
  const entries: JournalEntry[] = stateDirs.flatMap((stateDir) =>
    readdirSync(join(stateDir, 'journal'))
      .filter((name) => name.endsWith('.jsonl'))
      .flatMap((name) => readJournal(join(stateDir, 'journal', name)).entries),
  );
  const journal: Journaled = { runs: [], events: [], processes: [], samples: [] };
  for (const entry of entries) (journal[entry.table] as JournalEntry['record'][]).push(entry.record);
  const last = new Map<string, RunRecord>();
  for (const run of journal.runs) if ((last.get(run.id)?.revision ?? -1) < run.revision) last.set(run.id, run);
  return { ...journal, runs: [...last.values()] };
}

/** Each run of the journal ended, and its journal holds its start and its end. */
function expectCompleteRuns(journal: Journaled): void {
  for (const run of journal.runs) {
    expect(run.ended_at, run.id).not.toBeNull();
    const kinds = journal.events.filter((event) => event.run_id === run.id).map((event) => event.kind);
    expect(kinds, run.id).toEqual(expect.arrayContaining(['run_started', 'run_finished']));
  }
}

const processKey = (row: Pick<ProcessRecord, 'run_id' | 'pid' | 'starttime'>) => `${row.run_id}/${row.pid}/${row.starttime}`;
const sorted = (keys: string[]) => [...keys].sort();

/**
 * The database holds exactly what the journals hold, and the journals hold finished runs: the runs
 * of `analysisIds` are the journals' runs, each in its last version; and the events, processes and
 * samples of those runs are the journals' ones, each once (compared by key, per table).
 */
async function expectDatabaseHoldsExactly(url: string, journal: Journaled, analysisIds: readonly string[]): Promise<void> {
  expectCompleteRuns(journal);
  const runIds = journal.runs.map((run) => run.id);
  for (const [table, keys] of Object.entries({
    events: journal.events.map((event) => event.id),
    processes: journal.processes.map(processKey),
    samples: journal.samples.map((sample) => sample.id),
  })) {
    expect(new Set(keys).size, `${table}: duplicate keys in the journals`).toBe(keys.length);
  }

  const runs = await query<{ id: string; revision: number; status: string; exit_status: number | null; ended: boolean }>(
    url,
    `SELECT id, revision, status, exit_status, ended_at IS NOT NULL AS ended FROM watchdog_runs WHERE analysis_id = ANY($1) OR id = ANY($2::uuid[])`,
    [analysisIds, runIds],
  );
  const expectedRuns = journal.runs.map((run) => ({
    id: run.id, revision: run.revision, status: run.status, exit_status: run.exit_status, ended: run.ended_at !== null,
  }));
  const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
  expect(runs.sort(byId)).toEqual(expectedRuns.sort(byId));

  const events = await query<{ id: string }>(url, 'SELECT id FROM watchdog_events WHERE run_id = ANY($1::uuid[])', [runIds]);
  expect(sorted(events.map((row) => row.id)), 'events').toEqual(sorted(journal.events.map((event) => event.id)));
  const processes = await query<ProcessRecord>(url, 'SELECT run_id, pid, starttime FROM watchdog_processes WHERE run_id = ANY($1::uuid[])', [runIds]);
  expect(sorted(processes.map(processKey)), 'processes').toEqual(sorted(journal.processes.map(processKey)));
  const samples = await query<{ id: string }>(url, 'SELECT id FROM watchdog_samples WHERE run_id = ANY($1::uuid[])', [runIds]);
  expect(sorted(samples.map((row) => row.id)), 'samples').toEqual(sorted(journal.samples.map((sample) => sample.id)));
}

/** `scidex-watchdog ship` of a state directory; it must succeed. */
async function ship(stateDir: string, url: string): Promise<void> {
  const result = await execa(WATCHDOG, ['ship', '--state-dir', stateDir, '--database-url', url], { reject: false });
  expect(result.exitCode, result.stderr).toBe(0);
}

/** The run rows of an analysis in the database (throws while it is down). */
async function runRows(url: string, analysisId: string): Promise<{ status: string }[]> {
  return query<{ status: string }>(url, 'SELECT status FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
}

/** Whether the run's row is in the database; not yet when the query fails (the server may be coming up). */
async function hasRunRow(url: string, analysisId: string): Promise<boolean> {
  return runRows(url, analysisId).then((rows) => rows.length === 1, () => false);
}

/** Live children of `pid`, by pid and starttime. */
function childrenOf(pid: number): { pid: number; starttime: number }[] {
  return listPids().flatMap((child) => {
    const stat = readStat(child);
    return stat && stat.ppid === pid ? [{ pid: child, starttime: stat.starttime }] : [];
  });
}

/**
 * A file the test creates once its outage steps are done: a run that waits for it (`command`, or a
 * script polling `path`) is still running through those steps however slow the host is.
 */
function newGate(): { path: string; command: string[]; open(): void } {
  const path = join(mkdtempSync(join(tmpdir(), 'scidex-gate-')), 'open');
  return {
    path,
    command: ['sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.1; done', 'gate', path],
    open: () => writeFileSync(path, ''),
  };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return Math.round(performance.now() - start);
}

describe('the throwaway server', () => {
  it('really stops, starts, crashes and goes away, keeping its data across restarts', async () => {
    let server!: ThrowawayPostgres;
    const times: Record<string, number> = {};
    times.create = await timed(async () => (server = await startThrowawayPostgres({ maxConnections: 7 })));
    try {
      const first = server.postmaster()!;
      expect(first).toBeDefined();
      await query(server.url, 'CREATE TABLE kept (n int)');
      await query(server.url, 'INSERT INTO kept VALUES (1)');
      expect(await query(server.url, 'SHOW max_connections')).toEqual([{ max_connections: '7' }]);
      const helpers = childrenOf(first.pid);
      expect(helpers.length).toBeGreaterThan(0);

      times.stop = await timed(() => server.stop());
      expect(aliveWith(first.pid, first.starttime)).toBe(false);
      expect(helpers.filter((child) => aliveWith(child.pid, child.starttime))).toEqual([]);
      expect(server.postmaster()).toBeUndefined();
      await expect(query(server.url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
      times.stopAgain = await timed(() => server.stop());

      times.start = await timed(() => server.start());
      const second = server.postmaster()!;
      expect(second).toBeDefined();
      expect(second).not.toEqual(first);
      await query(server.url, 'INSERT INTO kept VALUES (2)');

      times.kill = await timed(() => server.kill());
      expect(aliveWith(second.pid, second.starttime)).toBe(false);
      times.startAfterKill = await timed(() => server.start());
      expect(await query(server.url, 'SELECT n FROM kept ORDER BY n')).toEqual([{ n: 1 }, { n: 2 }]);

      const last = server.postmaster()!;
      const lastHelpers = childrenOf(last.pid);
      times.destroy = await timed(() => server.destroy());
      expect(aliveWith(last.pid, last.starttime)).toBe(false);
      expect(lastHelpers.filter((child) => aliveWith(child.pid, child.starttime))).toEqual([]);
      expect(existsSync(server.dir)).toBe(false);
      console.info(`throwaway server timings (ms): ${JSON.stringify(times)}`);
    } finally {
      await server?.destroy();
    }
  });
});

// Each test starts wrappers, ships with the CLI and stops and starts the server (pg_ctl -w), each slow on a
// host loaded by the suite itself: more than the default 60 s together there.
describe('PostgreSQL outages', { timeout: 180_000 }, () => {
  let server: ThrowawayPostgres;
  beforeAll(async () => {
    server = await startThrowawayPostgres();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('down before the start: the run keeps its exit status, and ship brings exactly the journal', async () => {
    await server.stop();
    const stateDir = newStateDir();
    const analysisId = `outage-before-${tag}`;
    const run = await startWrapper(['--analysis-id', analysisId, '--database-url', server.url, '--', 'sh', '-c', 'exit 3'], { tag, stateDir });
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toMatch(/warning: database .* unavailable .*records wait in the journal/);
    const journal = journaled([stateDir]);
    expect(journal.runs).toMatchObject([{ analysis_id: analysisId, status: 'failed', exit_status: 3 }]);
    expect(journal.events.length).toBeGreaterThanOrEqual(2);

    await server.start();
    await ship(stateDir, server.url);
    await expectDatabaseHoldsExactly(server.url, journal, [analysisId]);
  });

  // --wait is only a hang bound (the shipper is to succeed once the server is back): minutes, below the test's own bound.
  it('ship --wait keeps trying while the database is down and brings the journal once it is back', { timeout: 420_000 }, async () => {
    await server.stop();
    const stateDir = newStateDir();
    const analysisId = `outage-wait-${tag}`;
    const run = await startWrapper(['--analysis-id', analysisId, '--database-url', server.url, '--', 'true'], { tag, stateDir });
    expect(run.exitCode).toBe(0);
    const shipper = execa(WATCHDOG, ['ship', '--state-dir', stateDir, '--database-url', server.url, '--wait', '5m'], { reject: false, env: { SCIDEX_TEST_TAG: tag } });
    // Not a wait on a condition: still trying after 1.5 s of a database down is what is asserted (a refused connection leaves no trace to wait on).
    await sleep(1500);
    expect(shipper.exitCode).toBeNull();
    await server.start();
    const shipped = await shipper;
    expect(shipped.exitCode, shipped.stderr).toBe(0);
    expect(shipped.stdout + shipped.stderr).toMatch(/records shipped; marked shipped/);
    await expectDatabaseHoldsExactly(server.url, journaled([stateDir]), [analysisId]);
  });

  it('down during the run: the run ends as it would have, and ship brings exactly the journal', async () => {
    await server.start();
    const stateDir = newStateDir();
    const analysisId = `outage-during-${tag}`;
    const gate = newGate();
    let ended = false;
    const run = startWrapper(['--analysis-id', analysisId, '--database-url', server.url, '--', ...gate.command], { tag, stateDir }).finally(
      () => (ended = true),
    );
    await until('the run row', () => hasRunRow(server.url, analysisId), 60_000, { every: 100 });
    await server.stop();
    expect(ended).toBe(false);
    // The run ends while the server is still down.
    gate.open();
    const result = await run;
    expect(result.exitCode).toBe(0);
    const journal = journaled([stateDir]);
    expect(journal.runs).toMatchObject([{ status: 'completed', exit_status: 0 }]);

    await server.start();
    await ship(stateDir, server.url);
    await expectDatabaseHoldsExactly(server.url, journal, [analysisId]);
  });

  it('down at the start, back during the run: the wrapper itself ships everything, while the run goes on and at its end', async () => {
    await server.stop();
    const stateDir = newStateDir();
    const analysisId = `outage-back-${tag}`;
    const gate = newGate();
    let ended = false;
    const wrapper = startWrapper(
      ['--analysis-id', analysisId, '--database-url', server.url, '--heartbeat-interval', '1s', '--', ...gate.command],
      { tag, stateDir },
    );
    let stderr = '';
    wrapper.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const run = wrapper.finally(() => (ended = true));
    // Up again only once the wrapper has found it down (its warning), however slow its start.
    await until(() => `the warning that the database is unavailable, in:\n${stderr}`, () => /warning: database .* unavailable/.test(stderr), 60_000, { every: 100 });
    await server.start();
    // Shipped by a retry while the command still runs, not only at its end.
    await until('the run row', () => hasRunRow(server.url, analysisId), 60_000, { every: 100 });
    expect(ended).toBe(false);
    gate.open();
    const result = await run;
    expect(result.exitCode, result.stderr).toBe(0);

    await expectDatabaseHoldsExactly(server.url, journaled([stateDir]), [analysisId]);
  });

  it('flapping: runs go on through stops and crashes of the server, and every record arrives exactly once', async () => {
    await server.start();
    // Growing by 2 MiB every 200 ms for its first 5 s, so that peak samples come among the periodic
    // ones, then holding until the gate opens.
    const script =
      'import os, sys, time\nchunks = []\nwhile not os.path.exists(sys.argv[1]):\n    if len(chunks) < 25:\n        chunks.append(bytearray(2 << 20))\n    time.sleep(0.2)\n';
    const gate = newGate();
    const stateDirs = Array.from({ length: 4 }, () => newStateDir());
    const analysisIds = stateDirs.map((_, n) => `outage-flap-${n}-${tag}`);
    let done = false;
    const runs = Promise.all(
      stateDirs.map((stateDir, n) =>
        startWrapper(
          ['--analysis-id', analysisIds[n], '--database-url', server.url, '--heartbeat-interval', '500ms', '--sample-interval', '200ms', '--', 'python3', '-c', script, gate.path],
          { tag, stateDir },
        ),
      ),
    ).finally(() => (done = true));
    // Every run is under way before the first outage.
    const allStarted = async () => (await Promise.all(analysisIds.map((id) => hasRunRow(server.url, id)))).every(Boolean);
    await until('the row of every run', allStarted, 60_000, { every: 100 });
    // Stops and crashes in turn, 700 ms into each up and each down; the runs end during the last one.
    // The sleeps are the schedule of the outages the test is about, not waits on a condition.
    for (let outage = 1; outage <= 4; outage++) {
      await sleep(700);
      await (outage % 2 === 1 ? server.stop() : server.kill());
      await sleep(700);
      if (outage < 4) await server.start();
    }
    // Every run went on through all four.
    expect(done).toBe(false);
    gate.open();
    for (const result of await runs) expect(result.exitCode, result.stderr).toBe(0);

    await server.start();
    for (const stateDir of stateDirs) await ship(stateDir, server.url);
    const journal = journaled(stateDirs);
    expect(journal.runs.map((run) => run.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(journal.samples.length).toBeGreaterThan(0);
    await expectDatabaseHoldsExactly(server.url, journal, analysisIds);
    for (const stateDir of stateDirs) rmSync(stateDir, { recursive: true, force: true });
  });
});

describe('a PostgreSQL with no free connection when the run ends', () => {
  let server: ThrowawayPostgres;
  beforeAll(async () => {
    server = await startThrowawayPostgres({ maxConnections: 3, superuserReservedConnections: 0 });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('the wrapper exits on time and hands its records to a background shipper, which brings them in once a connection frees up', { timeout: 180_000 }, async () => {
    const held = await Promise.all(Array.from({ length: 3 }, async () => {
      const client = new pg.Client({ connectionString: server.url });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    }));
    const stateDir = newStateDir();
    const analysisId = `handover-${tag}`;
    let run;
    try {
      run = await startWrapper(['--analysis-id', analysisId, '--database-url', server.url, '--', 'true'], { tag, stateDir });
      // The shipper retries against the full server for a while before a connection frees up. A
      // fixed time on purpose: it is the scenario (how long the server stays full), nothing is
      // asserted of it, and the server's log cannot tell the shipper's refusals from the wrapper's.
      await sleep(2000);
    } finally {
      await Promise.all(held.map((client) => client.end().catch(() => undefined)));
    }
    expect(run.exitCode).toBe(0);
    expect(run.stderr).not.toMatch(/warning/);
    const handover = /PostgreSQL is busy: the run's last records wait in (\S+); a background scidex-watchdog ship \(pid (\d+)\) keeps trying for 10m/.exec(run.stderr);
    expect(handover, run.stderr).not.toBeNull();
    const shipperPid = Number(handover![2]);
    expect(tagged(tag)).toContain(shipperPid);
    await until('the background shipper to end', () => !tagged(tag).includes(shipperPid), 60_000, { every: 100 });
    expect(existsSync(handover![1].replace(/\.jsonl$/, '.shipped'))).toBe(true);
    await expectDatabaseHoldsExactly(server.url, journaled([stateDir]), [analysisId]);
    rmSync(stateDir, { recursive: true, force: true });
  });
});

describe('200 runs at once against a server of 20 connections', () => {
  let server: ThrowawayPostgres;
  beforeAll(async () => {
    server = await startThrowawayPostgres({ maxConnections: 20 });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('all exit 0 without a warning, and the wrappers (with the shippers they hand over to) bring every run and event to the database', { timeout: 300_000 }, async () => {
    const count = 200;
    // Four state directories of 50 runs each: every start's background shipper meets the others'
    // journals at every stage (just created, running, ending), as on a host with one state directory.
    const stateDirs = Array.from({ length: 4 }, () => newStateDir());
    const analysisIds = Array.from({ length: count }, (_, n) => `load-${n}-${tag}`);
    const started = performance.now();
    const results = await Promise.all(
      analysisIds.map((analysisId, n) =>
        startWrapper(['--analysis-id', analysisId, '--database-url', server.url, '--', 'sleep', '2'], { tag, stateDir: stateDirs[n % stateDirs.length] }),
      ),
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const slowest = Math.max(...results.map((result) => result.durationMs));
    const refused = readFileSync(server.logFile, 'utf8').match(/too many clients/g)?.length ?? 0;
    const handedOver = results.filter((result) => /PostgreSQL is busy/.test(result.stderr)).length;
    console.info(`${count} runs against max_connections=20: all ended after ${seconds} s; slowest wrapper ${Math.round(slowest)} ms; ${refused} connections refused (too many clients); ${handedOver} handed their last records to a background shipper`);

    expect(results.map((result) => result.exitCode)).toEqual(results.map(() => 0));
    const warnings = results.flatMap((result) => result.stderr.split('\n').filter((line) => /warning|error|too many/i.test(line)));
    expect(warnings).toEqual([]);
    // The shippers handed over to end on their own once their records are in.
    await until('every shipper to end', () => tagged(tag).length === 0, 180_000, { every: 100 });

    const journal = journaled(stateDirs);
    expect(journal.runs).toHaveLength(count);
    expect(new Set(journal.runs.map((run) => run.status))).toEqual(new Set(['completed']));
    await expectDatabaseHoldsExactly(server.url, journal, analysisIds);
    const unmarked = stateDirs.flatMap((stateDir) =>
      readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.jsonl') && !existsSync(join(stateDir, 'journal', name.replace(/\.jsonl$/, '.shipped')))),
    );
    expect(unmarked).toEqual([]);
    for (const stateDir of stateDirs) rmSync(stateDir, { recursive: true, force: true });
  });
});
