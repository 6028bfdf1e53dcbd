import { randomUUID } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { ownedTag } from '../helpers/processes.js';
import { BIN, journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const database = sharedClient();
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
/** Every variable that would configure a database. */
const NO_DATABASE = Object.fromEntries(
  ['SCIDEX_RUN_DATABASE_URL', 'DATABASE_URL', 'PGHOST', 'PGHOSTADDR', 'PGDATABASE', 'PGSERVICE', 'PGPORT', 'PGUSER'].map((name) => [name, undefined]),
);

const withDatabase = (args: string[], url = database.url) => execa(WATCHDOG, [...args, '--database-url', url], { reject: false });
const withoutDatabase = (args: string[], stateDir: string) =>
  execa(WATCHDOG, args, { reject: false, env: { ...NO_DATABASE, SCIDEX_RUN_STATE_DIR: stateDir } });
const jsonLines = (stdout: string) => (stdout === '' ? [] : stdout.split('\n').map((line) => JSON.parse(line)));
/** `show --json` of the database, its `source` checked and set to the journals' (the one field that tells them apart). */
function sameSource(fromDatabase: { source?: string }[], args: string[]) {
  if (args[0] !== 'show') return fromDatabase;
  expect(fromDatabase.map((view) => view.source)).toEqual(['database']);
  return fromDatabase.map((view) => ({ ...view, source: 'journal' }));
}

/** Inserts one row; `row` holds column values. */
async function insert(client: pg.Client, table: string, row: Record<string, unknown>): Promise<void> {
  const columns = Object.keys(row);
  await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, index) => `$${index + 1}`).join(', ')})`, Object.values(row));
}

/** Two real runs of one analysis, recorded in PostgreSQL and in the journals of one state directory. */
describe('show, and the journals when no database is configured', () => {
  const stateDir = newStateDir();
  const analysisId = `query-${tag}`;
  /** The failed run (first), then the timed-out one (latest). */
  let failed: string;
  let latest: string;
  const sampleId = randomUUID();

  beforeAll(async () => {
    const run = (timeout: string, command: string[]) =>
      startWrapper(['--quiet', '--analysis-id', analysisId, '--timeout', timeout, '--grace', '1s', '--database-url', database.url, '--', ...command], { tag, stateDir });
    // Long enough for its processes to be seen by a scan. Its timeout is only a hang bound: a 1 s one
    // won over sh and its sleep 0.3 on a host loaded by the suite (124, not 3).
    expect((await run('2min', ['sh', '-c', 'sleep 0.3; exit 3'])).exitCode).toBe(3);
    expect((await run('1s', ['sh', '-c', 'sleep 30 & sleep 30'])).exitCode).toBe(124);
    const ids = await database.client().query('SELECT id FROM watchdog_runs WHERE analysis_id = $1 ORDER BY started_at', [analysisId]);
    [failed, latest] = ids.rows.map((row) => row.id);
    // A sample of the first run, in PostgreSQL only: the runs compared with the journals below are unaffected.
    await insert(database.client(), 'watchdog_samples', {
      id: sampleId, run_id: failed, at: new Date().toISOString(), elapsed_ms: 50, rss_bytes: 3 * 2 ** 20, pss_bytes: null,
      cpu_seconds: 0.01, process_count: 1, peak: true,
    });
  });

  it('show RUN prints the header, the processes, the samples and the events in time order', async () => {
    const shown = await withDatabase(['show', failed]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id: +${failed}$`, 'm'));
    expect(shown.stdout).toMatch(new RegExp(`^analysis: +${analysisId} \\(1 other run\\)$`, 'm'));
    expect(shown.stdout).toMatch(/^status: +failed$/m);
    expect(shown.stdout).toMatch(/^exit status: +3 \(the command exited with 3\)$/m);
    expect(shown.stdout).toMatch(/^why: +failed: exited with code 3$/m);
    expect(shown.stdout).toMatch(/^limits: +timeout 2m0s, memory 2\.0 GiB, grace 1\.00s, orphans kill$/m);
    expect(shown.stdout).toMatch(/^processes:\n pid +\| ppid +\| comm +\| found_by +\| peak_rss +\| cpu_s +\| fate/m);
    expect(shown.stdout).toMatch(/\| sh +\| leader +\|.*\| exited/);
    expect(shown.stdout).toMatch(/^samples:\n at +\| elapsed_s +\| rss +\| pss +\| cpu_s +\| procs +\| peak/m);
    expect(shown.stdout).toMatch(/\| 0\.1 +\| 3\.0 MiB +\| +\| 0\.0 +\| 1 +\| peak/);
    expect(shown.stdout.indexOf('run_started')).toBeGreaterThan(shown.stdout.indexOf('\nevents:\n'));
    expect(shown.stdout.indexOf('run_finished')).toBeGreaterThan(shown.stdout.indexOf('run_started'));

    const json = await withDatabase(['show', failed.toUpperCase(), '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    const [timeline, ...more] = jsonLines(json.stdout);
    expect(more).toEqual([]);
    // The RunView (src/query/run-view-body.ts): what the run page shows; a finished run has no live figures.
    expect(Object.keys(timeline)).toEqual(['run', 'processes', 'samples', 'events', 'other_runs', 'source', 'live']);
    expect(timeline).toMatchObject({ other_runs: expect.any(Number), source: 'database', live: null });
    expect(timeline.run).toMatchObject({ id: failed, status: 'failed', exit_status: 3, exit_code: 3, argv: ['sh', '-c', 'sleep 0.3; exit 3'] });
    expect(timeline.processes).toEqual(expect.arrayContaining([expect.objectContaining({ comm: 'sh', found_by: 'leader', fate: 'exited' })]));
    expect(timeline.samples).toEqual(expect.arrayContaining([expect.objectContaining({ id: sampleId, rss_bytes: 3 * 2 ** 20, peak: true })]));
    expect(timeline.events[0].kind).toBe('run_started');
    expect(timeline.events.at(-1).kind).toBe('run_finished');
  });

  it('show --analysis-id shows the latest run of the analysis', async () => {
    const shown = await withDatabase(['show', '--analysis-id', analysisId]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id: +${latest}$`, 'm'));
    expect(shown.stdout).toMatch(/^analysis: .*\(1 other run\)$/m);
    expect(shown.stdout).toMatch(/^status: +timeout$/m);
    expect(shown.stdout).toMatch(/^why: +killed: ran past its 1 s timeout$/m);
    expect(shown.stdout).toMatch(/\| sleep +\|/);

    const { run, processes, events } = JSON.parse((await withDatabase(['show', '--analysis-id', analysisId, '--json'])).stdout);
    expect(run).toMatchObject({ id: latest, status: 'timeout', exit_status: 124, reason: 'timeout' });
    expect(processes.map((process: { comm: string }) => process.comm).sort()).toEqual(['sh', 'sleep', 'sleep']);
    expect(events.map((event: { kind: string }) => event.kind)).toEqual(expect.arrayContaining(['limit_exceeded', 'signal_sent', 'process_killed']));
    expect(events.map((event: { at: string }) => event.at)).toEqual(events.map((event: { at: string }) => event.at).sort());
  });

  // Nine CLI runs one after the other: up to 4 s each on a host loaded by the suite, too close to the default 60 s.
  it('show of a run that does not exist fails in one line with 1; a malformed id or none is bad usage (125)', { timeout: 180_000 }, async () => {
    const missing = await withDatabase(['show', randomUUID()]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/^scidex-watchdog: no run [0-9a-f-]{36}$/);
    expect(missing.stdout).toBe('');
    const noAnalysis = await withDatabase(['show', '--analysis-id', `nothing-${tag}`]);
    expect(noAnalysis.exitCode).toBe(1);
    const badSince = await withDatabase(['runs', '--since', '2026-13-45T00:00Z']);
    expect(badSince.exitCode).toBe(125);
    expect(badSince.stderr.trim()).toBe(`scidex-watchdog: invalid --since '2026-13-45T00:00Z': expected a duration back from now (2h, 7d) or a time (2026-11-21T08:00Z)`);
    for (const args of [['show', 'not-a-run'], ['show'], ['show', failed, '--analysis-id', analysisId], ['runs', '--since', '-5m'], ['runs', '--since'], ['events', '--limit']]) {
      const bad = await withDatabase(args);
      expect(bad.exitCode, args.join(' ')).toBe(125);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  // Eighteen commands one after the other: a bound for a host whose cores are shared many times over.
  it('runs, events and show read the journals, shipped ones too, and find what the database holds', { timeout: 180_000 }, async () => {
    expect(readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.shipped'))).toHaveLength(2);
    const queries = [
      ['runs', '--analysis-id', analysisId],
      ['runs', '--analysis-id', analysisId, '--status', 'timeout', '--since', '1h', '--host', hostname()],
      ['runs', '--analysis-id', analysisId, '--limit', '1'],
      ['events', '--analysis-id', analysisId],
      ['events', '--run', latest, '--host', hostname()],
      ['show', '--analysis-id', analysisId],
      ['show', failed],
    ];
    for (const args of queries) {
      const fromJournals = await withoutDatabase([...args, '--json'], stateDir);
      expect(fromJournals.exitCode, fromJournals.stderr).toBe(0);
      expect(fromJournals.stderr).toBe(`scidex-watchdog: no database configured: reading the journals in ${stateDir}`);
      const records = jsonLines(fromJournals.stdout);
      expect(records.length, args.join(' ')).toBeGreaterThan(0);
      const fromDatabase = jsonLines((await withDatabase([...args, '--json'])).stdout);
      // The sample inserted into PostgreSQL alone is the one difference.
      if (args[1] === failed) fromDatabase[0].samples = fromDatabase[0].samples.filter((sample: { id: string }) => sample.id !== sampleId);
      expect(records, args.join(' ')).toEqual(sameSource(fromDatabase, args));
    }
    expect(jsonLines((await withoutDatabase(['runs', '--analysis-id', analysisId, '--json', '--host', 'no-such-host'], stateDir)).stdout)).toEqual([]);
    const table = await withoutDatabase(['runs', '--analysis-id', analysisId, '--state-dir', stateDir], newStateDir());
    expect(table.stdout).toMatch(/^ id +\| analysis_id +\| host/);
    expect(table.stdout).toMatch(/\(2 rows\)$/);
    expect((await withoutDatabase(['show', randomUUID()], stateDir)).exitCode).toBe(1);
    expect((await withoutDatabase(['runs', '--json'], newStateDir())).stdout).toBe('');
  });
});

describe('a hostile command line, and journal lines that are not records', () => {
  const stateDir = newStateDir();
  const analysisId = `hostile-${tag}`;
  const command = ['sh', '-c', 'true\ntrue\x1b[31mRED\u0085'];
  /** How the tables print the command: every control character as an escape. */
  const shownCommand = 'sh -c true\\ntrue\\x1b[31mRED\\u0085';
  /** Any control character but the newlines that end lines. */
  // eslint-disable-next-line no-control-regex -- what the test looks for
  const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;
  let runId: string;
  let strayFile: string;
  const strays = 6;

  beforeAll(async () => {
    // The second line is no command: sh says so and exits 127.
    expect((await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', database.url, '--', ...command], { tag, stateDir })).exitCode).toBe(127);
    const { runs: [run], events: [event] } = journalOf(stateDir);
    runId = run.id;
    strayFile = join(stateDir, 'journal', 'strays.jsonl');
    // Each of these made the query side exit 1 with a "database error". Shown, the run without cpu_seconds would be a second run
    // of the analysis, and the higher revision without argv would replace the good one.
    const lines = [
      { table: 'constructor', record: {} },
      { table: 'events' },
      { table: 'events', record: [1, 2] },
      { table: 'events', record: { ...event, id: randomUUID(), at: 'not a date' } },
      { table: 'runs', record: { ...run, id: randomUUID(), cpu_seconds: null } },
      { table: 'runs', record: { ...run, revision: 1000, argv: null } },
    ];
    expect(lines).toHaveLength(strays);
    writeFileSync(strayFile, lines.map((line) => JSON.stringify(line) + '\n').join(''));
  });

  // Nine CLI runs one after the other: up to 4 s each on a host loaded by the suite, too close to the default 60 s.
  it('runs, events and show skip the lines with one warning, and print the good records as the database does', { timeout: 180_000 }, async () => {
    for (const args of [['runs', '--analysis-id', analysisId], ['events', '--analysis-id', analysisId], ['show', runId], ['show', '--analysis-id', analysisId]]) {
      const fromJournals = await withoutDatabase([...args, '--json'], stateDir);
      expect(fromJournals.exitCode, fromJournals.stderr).toBe(0);
      expect(fromJournals.stderr.split('\n')).toEqual([
        `scidex-watchdog: no database configured: reading the journals in ${stateDir}`,
        `scidex-watchdog: warning: skipped ${strays} lines of ${strayFile}: not well-formed records`,
      ]);
      const records = jsonLines(fromJournals.stdout);
      expect(records.length, args.join(' ')).toBeGreaterThan(0);
      expect(records, args.join(' ')).toEqual(sameSource(jsonLines((await withDatabase([...args, '--json'])).stdout), args));
    }
    const [run] = jsonLines((await withoutDatabase(['runs', '--analysis-id', analysisId, '--json'], stateDir)).stdout);
    expect(run.argv).toEqual(command);
  });

  it('the tables of runs and show, from either source, write control characters as escapes', async () => {
    for (const read of [(args: string[]) => withDatabase(args), (args: string[]) => withoutDatabase(args, stateDir)]) {
      const listed = await read(['runs', '--analysis-id', analysisId]);
      expect(listed.exitCode, listed.stderr).toBe(0);
      expect(listed.stdout).not.toMatch(CONTROL);
      // Header, rule, one row, count: the command's newline did not make a second line.
      expect(listed.stdout.split('\n')).toHaveLength(4);
      expect(listed.stdout.split('\n')[2]).toContain(`| ${shownCommand}`);

      const shown = await read(['show', runId]);
      expect(shown.exitCode, shown.stderr).toBe(0);
      expect(shown.stdout).not.toMatch(CONTROL);
      expect(shown.stdout.split('\n').find((line) => line.startsWith('command:'))?.replace(/^command: +/, '')).toBe(shownCommand);
    }
  });
});

describe('scidex-watchdog prune', () => {
  // A database of its own: prune deletes by age, whoever wrote the rows.
  const name = `scidex_prune_${process.pid}_${Date.now()}`;
  const url = new URL(database.url);
  url.pathname = `/${name}`;
  let client: pg.Client;
  const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
  const run = (status: string, startedDaysAgo: number, endedDaysAgo: number | null) => ({
    id: randomUUID(), revision: 1, analysis_id: 'prune', host: 'prune-host', boot_id: 'b00t', wrapper_pid: 4242, wrapper_starttime: 1,
    argv: ['true'], cwd: '/', username: 'scidex', timeout_ms: 0, memory_limit_bytes: 0, grace_ms: 0, orphan_policy: 'kill',
    tracking_backend: 'pgroup', journal_path: '/nowhere', started_at: daysAgo(startedDaysAgo),
    heartbeat_at: daysAgo(endedDaysAgo ?? 0), ended_at: endedDaysAgo === null ? null : daysAgo(endedDaysAgo), status,
  });
  const event = (runId: string, days: number) => ({ id: randomUUID(), run_id: runId, at: daysAgo(days), kind: 'run_finished', elapsed_ms: 1 });
  const sample = (runId: string, days: number) => ({
    id: randomUUID(), run_id: runId, at: daysAgo(days), elapsed_ms: 1, rss_bytes: 1, cpu_seconds: 0, process_count: 1,
  });
  const count = async (table: string) => (await client.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
  const counts = async () => ({
    runs: await count('watchdog_runs'),
    events: await count('watchdog_events'),
    processes: await count('watchdog_processes'),
    samples: await count('watchdog_samples'),
  });

  beforeAll(async () => {
    await database.client().query(`CREATE DATABASE ${name}`);
    expect((await withDatabase(['migrate'], url.toString())).exitCode).toBe(0);
    client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await database.client().query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  it('removes runs ended before the cutoff with their records, and older samples; --dry-run only counts', async () => {
    const old = run('completed', 41, 40);
    const oldLost = run('lost', 400, 399);
    const stillRunning = run('running', 100, null);
    const recent = run('failed', 2, 1);
    for (const row of [old, oldLost, stillRunning, recent]) await insert(client, 'watchdog_runs', row);
    for (const row of [event(old.id, 40), event(old.id, 41), event(recent.id, 1), event(stillRunning.id, 100)]) await insert(client, 'watchdog_events', row);
    await insert(client, 'watchdog_processes', {
      run_id: old.id, pid: 10, starttime: 1, ppid: 1, pgid: 10, sid: 10, comm: 'true', argv: ['true'], found_by: 'leader',
      first_seen_at: daysAgo(41), last_seen_at: daysAgo(40), peak_rss_bytes: 1, cpu_seconds: 0, fate: 'exited',
    });
    for (const row of [sample(old.id, 41), sample(stillRunning.id, 99), sample(stillRunning.id, 0), sample(recent.id, 2)]) await insert(client, 'watchdog_samples', row);
    const before = await counts();
    const expected = { runs: 2, events: 2, processes: 1, samples: 2 };

    const dry = await withDatabase(['prune', '--older-than', '30d', '--dry-run', '--json'], url.toString());
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dry_run: true, ...expected });
    expect(await counts()).toEqual(before);
    const dryHuman = await withDatabase(['prune', '--older-than', '30d', '--dry-run'], url.toString());
    expect(dryHuman.stderr).toMatch(/^scidex-watchdog: would remove rows: runs 2, events 2, processes 1, samples 2 \(/);

    const pruned = await withDatabase(['prune', '--older-than', '30d'], url.toString());
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    expect(pruned.stderr).toMatch(/^scidex-watchdog: removed rows: runs 2, events 2, processes 1, samples 2 \(/);
    const survivors = await client.query('SELECT id FROM watchdog_runs ORDER BY started_at');
    expect(survivors.rows.map((row) => row.id)).toEqual([stillRunning.id, recent.id]);
    expect(await counts()).toEqual({ runs: 2, events: 2, processes: 0, samples: 2 });

    const again = await withDatabase(['prune', '--older-than', '30d', '--json'], url.toString());
    expect(JSON.parse(again.stdout)).toMatchObject({ dry_run: false, runs: 0, events: 0, processes: 0, samples: 0 });
  });

  // Fifteen CLI runs in a row: beside the suite's 200-run outage test one took 4 s, so the default 60 s bound was too short.
  it('refuses a missing or unreadable --older-than, and runs only with a database (125)', { timeout: 240_000 }, async () => {
    // A date is no duration: read leniently it was 2026 ms, and every run would have gone.
    // A negative duration once read as the short options -1 and -h: the help, and exit 0.
    // A bare number in any of timeout(1)'s forms is refused too: `.5`, `1e3`, `0x1e`, `inf` are seconds elsewhere.
    const bare = ['.5', '5.', '1e3', '0x1e', 'inf'].map((text) => ['prune', '--older-than', text]);
    for (const args of [['prune'], ['prune', '--older-than', 'soon'], ['prune', '--older-than', '30'], ['prune', '--older-than', '2026-11-21'], ['prune', '--older-than', '-1h'], ['prune', '--older-than'], ...bare]) {
      const bad = await withDatabase(args, url.toString());
      expect(bad.exitCode, args.join(' ')).toBe(125);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
      if (args.length === 3) expect(bad.stderr).toContain(`invalid --older-than '${args[2]}': expected a positive duration with a unit, such as 30d, 12h or 1h30m`);
    }
    // Longer ago than 1970, even past what a Date holds (a duration too long to represent is the longest, 2^53-1 ms): nothing.
    for (const olderThan of ['285000y', '1e600d']) {
      const never = await withDatabase(['prune', '--older-than', olderThan, '--dry-run', '--json'], url.toString());
      expect(never.exitCode, never.stderr).toBe(0);
      expect(JSON.parse(never.stdout)).toMatchObject({ cutoff: '1970-01-01T00:00:00.000Z', runs: 0, events: 0, processes: 0, samples: 0 });
    }
    const noDatabase = await withoutDatabase(['prune', '--older-than', '30d'], newStateDir());
    expect(noDatabase.exitCode).toBe(125);
    expect(noDatabase.stderr).toMatch(/no database configured/);
  });
});
