/**
 * `scidex-watchdog show RUN` of a running run (docs/usage.md, "Reading the records"): its header
 * gives the run's tree measured now, not its last heartbeat's, and `--json` prints the RunView the
 * run page uses (src/query/run-view-body.ts). A real wrapper runs a real balloon (scripts/examples)
 * holding 48 MiB, with a heartbeat far off, so that its record still says what it was at the start:
 * once without a database (the journals; and with a database that refuses connections, the journals
 * too), once with a database of the file's own (and a run it has no row of: the journals). After the
 * run ends, `live` is null.
 *
 * Then a forged marker (root only: the intruder is the user nobody): nobody's state directory names
 * a run whose "wrapper" is one of root's processes, or one of nobody's, and root's process carrying
 * the run's cookie must not be reported as the run's; the same forgery in root's own state directory
 * (the positive control) reports it.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { resolveDatabase } from '../../src/config/database.js';
import { readStat } from '../../src/proc/stat.js';
import { liveFigures } from '../../src/query/live-figures.js';
import { readRunView } from '../../src/query/run-view.js';
import type { RunView } from '../../src/query/run-view-body.js';
import { listMarkers, markerPath } from '../../src/record/markers.js';
import { replaceStateFile } from '../../src/record/state-file.js';
import { aliveWith, cookieCarrierAs, foreignSleep, forgeRun } from '../helpers/lost-runs.js';
import { ownDatabase } from '../helpers/own-database.js';
import { ownedTag, tagged } from '../helpers/processes.js';
import { stateDirOwnedBy } from '../helpers/state-dirs.js';
import { until } from '../helpers/until.js';
import { EXAMPLES, journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { nobodyRunner } from '../helpers/zoo.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));
const NO_DATABASE = Object.fromEntries(
  ['SCIDEX_RUN_DATABASE_URL', 'DATABASE_URL', 'PGHOST', 'PGHOSTADDR', 'PGDATABASE', 'PGSERVICE', 'PGPORT', 'PGUSER'].map((name) => [name, undefined]),
);
const MIB = 1024 * 1024;
/** Nothing listens on port 1 of loopback: connecting is refused at once. */
const UNREACHABLE = 'postgres://127.0.0.1:1/none';
/** What the balloon holds once inflated, MiB. */
const HELD_MIB = 48;
/**
 * A bound far above what any command here needs: a hang fails the test instead of blocking it. The
 * house bound, 60 s: a `show` took up to 4 s and a trivial wrapper run 12 s on a host loaded by the suite.
 */
const HANG_MS = 60_000;
/** A test's own bound: a wrapper's start, then `show` after `show`, each seconds long on a loaded host. */
const SEVERAL_RUNS = { timeout: 240_000 };

const tag = ownedTag();
const database = ownDatabase('show_live');
const nobody = await nobodyRunner();

/** `scidex-watchdog show` with the test's tag, on the database `url` or on the journals of `stateDir`. */
function show(args: string[], stateDir: string, url: string | undefined) {
  return execa(WATCHDOG, ['show', ...args, '--state-dir', stateDir], {
    reject: false,
    stdin: 'ignore',
    timeout: HANG_MS,
    env: { ...NO_DATABASE, SCIDEX_TEST_TAG: tag, ...(url === undefined ? {} : { DATABASE_URL: url }) },
  });
}

/** `show --json`: the RunView. */
async function viewOf(runId: string, stateDir: string, url?: string): Promise<RunView> {
  const result = await show([runId, '--json'], stateDir, url);
  expect(result.exitCode, result.stderr).toBe(0);
  expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
  return JSON.parse(result.stdout) as RunView;
}

/** RSS of `pid` now, bytes (proc(5) stat field 24 times the page size, 4 KiB on our hosts). */
const rssNow = (pid: number) => readStat(pid)!.rssPages * 4096;

async function showsLiveFigures(url: string | undefined): Promise<void> {
  const stateDir = newStateDir();
  const env = url === undefined ? {} : { DATABASE_URL: url };
  const wrapper = startWrapper(
    ['--quiet', '--analysis-id', 'show-live', '--timeout', '10m', '--heartbeat-interval', '1h', '--', 'python3', join(EXAMPLES, 'balloon.py'), '16', String(HELD_MIB)],
    { tag, stateDir, env },
  );
  try {
    const runId = await until('the marker', () => listMarkers(stateDir)[0], HANG_MS);
    // Inflated: the live tree holds what the balloon holds, while the record still has its start's figures.
    const inflated = await until(
      'the live tree to hold the balloon',
      async () => {
        const view = await viewOf(runId, stateDir, url);
        // With a database, its rows: the wrapper ships its start in the background.
        const source = url === undefined ? 'journal' : 'database';
        return view.source === source && view.live !== null && view.live.rss_bytes >= HELD_MIB * MIB ? view : undefined;
      },
      HANG_MS,
      { every: 200 },
    );
    expect(inflated.source).toBe(url === undefined ? 'journal' : 'database');
    if (url === undefined) {
      // A database that cannot be reached: the journals, said in one warning; the live figures all the same.
      const down = await show([runId, '--json'], stateDir, UNREACHABLE);
      expect(down.exitCode, down.stderr).toBe(0);
      expect(down.stderr).toMatch(/^scidex-watchdog: warning: cannot read the database postgres:\/\/127\.0\.0\.1:1\/none \(.*ECONNREFUSED.*\): reading the journals in /m);
      expect(JSON.parse(down.stdout)).toMatchObject({ run: { id: runId }, source: 'journal', live: { process_count: 1 } });

      // A trusted marker of the wrong shape (root's own, rewritten): no live figures, and no crash.
      const marker = markerPath(stateDir, runId);
      const original = readFileSync(marker, 'utf8');
      replaceStateFile(marker, JSON.stringify({ ...JSON.parse(original), cgroup_path: 5 }));
      const malformed = await show([runId, '--json'], stateDir, undefined);
      replaceStateFile(marker, original);
      expect(malformed.exitCode, malformed.stderr).toBe(0);
      expect(JSON.parse(malformed.stdout)).toMatchObject({ run: { id: runId, status: 'running' }, live: null });
    } else {
      // Read with another state directory (a daemon's /var/lib/scidex-run beside a user's own): the
      // marker is looked for in the one its live wrapper writes the run's journal in, as
      // /proc/PID/fd shows; the row's journal_path, which a database writer could point anywhere, is
      // not read at all.
      const elsewhere = await viewOf(runId, newStateDir(), url);
      expect(elsewhere).toMatchObject({ source: 'database', live: { process_count: 1 } });
      const decoy = stateDirOwnedBy(0, 0);
      for (const path of ['', join(decoy, 'journal', `${runId}.jsonl`), `journal/${runId}.jsonl`]) {
        expect(liveFigures({ ...elsewhere.run, journal_path: path }, newStateDir()), path).toMatchObject({ process_count: 1 });
      }
      // A row naming another live process as its wrapper: no journal of the run there, nothing measured.
      expect(liveFigures({ ...elsewhere.run, wrapper_pid: process.pid, wrapper_starttime: readStat(process.pid)!.starttime }, newStateDir())).toBeNull();
      // A row rewritten to an older start and a timeout long past: the live figures are the marker's.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`UPDATE watchdog_runs SET started_at = started_at - interval '1 day', timeout_ms = 1 WHERE id = $1`, [runId]);
      } finally {
        await client.end();
      }
      const forged = await viewOf(runId, stateDir, url);
      expect(Date.parse(forged.run.started_at)).toBeLessThan(Date.parse(inflated.run.started_at) - 3_600_000);
      expect(forged.live!.elapsed_ms).toBe(Date.parse(forged.live!.at) - Date.parse(inflated.run.started_at));
      expect(forged.live!.time_left_ms).toBe(10 * 60_000 - forged.live!.elapsed_ms);
    }
    const { run, live } = inflated;
    expect(run.status).toBe('running');
    expect(run.peak_rss_bytes).toBeLessThan(HELD_MIB * MIB);
    const balloon = tagged(tag).find((pid) => pid !== wrapper.pid && readStat(pid)?.comm.startsWith('python'))!;
    expect(live!.process_count).toBe(1);
    expect(live!.processes).toEqual([expect.objectContaining({ pid: balloon, comm: expect.stringMatching(/^python/), found_by: expect.any(String) })]);
    expect(Math.abs(live!.processes[0].rss_bytes - rssNow(balloon))).toBeLessThan(4 * MIB);
    expect(live!.rss_bytes).toBe(live!.processes[0].rss_bytes);
    const heartbeatElapsed = Date.parse(run.heartbeat_at) - Date.parse(run.started_at);
    expect(live!.elapsed_ms).toBeGreaterThan(heartbeatElapsed);
    expect(live!.elapsed_ms).toBe(Date.parse(live!.at) - Date.parse(run.started_at));
    expect(live!.time_left_ms).toBe(run.timeout_ms - live!.elapsed_ms);

    // The header: the elapsed time a second past the heartbeat's, and the tree measured now.
    await until('a second past the last heartbeat', () => Date.now() - Date.parse(run.heartbeat_at) > 1000, HANG_MS);
    const text = await show([runId], stateDir, url);
    expect(text.exitCode, text.stderr).toBe(0);
    const elapsed = /^elapsed:\s+(\d+\.\d+)s so far \(live, measured at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/m.exec(text.stdout);
    expect(elapsed, text.stdout).not.toBeNull();
    expect(Number(elapsed![1]) * 1000).toBeGreaterThan(heartbeatElapsed + 1000);
    const tree = /^tree now:\s+RSS (\d+\.\d) MiB in 1 process \(live, measured at .* UTC\)$/m.exec(text.stdout);
    expect(tree, text.stdout).not.toBeNull();
    expect(Number(tree![1])).toBeGreaterThanOrEqual(HELD_MIB);
    expect(text.stdout).toMatch(/^time left:\s+\d+m\d+s$/m);
    expect(text.stdout).toMatch(new RegExp(`^processes now \\(live, the 1 biggest of 1\\):\\n(.*\\n){2} +${balloon} \\|`, 'm'));

    // Ended (a cancel: SIGTERM to the wrapper): no live figures, and the header is the record's.
    wrapper.kill('SIGTERM');
    expect((await wrapper).exitCode).toBe(143);
    const ended = await viewOf(runId, stateDir, url);
    expect(ended).toMatchObject({ run: { id: runId, status: 'cancelled' }, live: null });
    const after = await show([runId], stateDir, url);
    expect(after.stdout).toMatch(/^duration:/m);
    expect(after.stdout).not.toMatch(/live, measured|time left|tree now/);
  } finally {
    // SIGTERM: the wrapper ends the balloon before it exits (a SIGKILL would orphan it).
    if (wrapper.exitCode === null && wrapper.signalCode === null) wrapper.kill('SIGTERM');
    await wrapper;
    await until('the run to be gone', () => tagged(tag).length === 0, HANG_MS);
  }
}

/** The run ids of the journals in a state directory. */
const listJournalIds = (stateDir: string) => readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.jsonl')).map((name) => name.slice(0, -'.jsonl'.length));

describe('show of a running run: its tree measured now', () => {
  it('without a database: from the journals, live elapsed and tree memory, live null once it ended', SEVERAL_RUNS, async () => {
    await showsLiveFigures(undefined);
  });

  it('with a database: the same, its records read from PostgreSQL', SEVERAL_RUNS, async () => {
    await database.create();
    try {
      await showsLiveFigures(database.url);
      // A run the database has no row of (its wrapper had none configured): read from the journals.
      const stateDir = newStateDir();
      expect((await startWrapper(['--quiet', '--', 'true'], { tag, stateDir })).exitCode).toBe(0);
      const runId = listJournalIds(stateDir)[0];
      // Another run's journal with a line no reader can show: read, it would be warned about.
      writeFileSync(join(stateDir, 'journal', `${randomUUID()}.jsonl`), '{"table":"runs","record":{}}\n', { mode: 0o600 });
      const result = await show([runId, '--json'], stateDir, database.url);
      expect(result.exitCode, result.stderr).toBe(0);
      // Only the run's own journal was read.
      expect(result.stderr).toBe('');
      expect(JSON.parse(result.stdout)).toMatchObject({ run: { id: runId, status: 'completed' }, source: 'journal', live: null });
      // A run id that is no UUID is no run: no query, no warning (the CLI and the routes refuse it before).
      const warnings: string[] = [];
      const place = { database: resolveDatabase(UNREACHABLE, {}), stateDir, warn: (line: string) => warnings.push(line) };
      expect(await readRunView({ runId: '../journal/x' }, place)).toBeUndefined();
      expect(warnings).toEqual([]);
    } finally {
      await database.drop();
    }
  });
});

/** `sleep 300` as uid:gid, with the test's tag; kill it with `stop`. */
function sleepAs(uid: number, gid: number): { pid: number; starttime: number; stop(): void } {
  const child = spawn('sleep', ['300'], { stdio: 'ignore', uid, gid, env: { PATH: process.env.PATH, SCIDEX_TEST_TAG: tag } });
  const pid = child.pid!;
  const starttime = readStat(pid)!.starttime;
  return { pid, starttime, stop: () => void (pid > 1 && aliveWith(pid, starttime) && child.kill('SIGKILL')) };
}

describe.skipIf(nobody.skip !== undefined)(`show of a run a forged marker names${nobody.skip ? ` (skipped: ${nobody.skip})` : ''}`, () => {
  it("reports none of root's processes that carry its cookie as the run's; the same forgery in root's own state directory does", SEVERAL_RUNS, async () => {
    const { uid, gid } = nobody.skip === undefined ? nobody.owner : { uid: -1, gid: -1 };
    const stops: (() => void)[] = [];
    try {
      // The "wrappers" start first: a member of a run starts after its wrapper.
      const rootsWrapper = foreignSleep({ SCIDEX_TEST_TAG: tag });
      stops.push(rootsWrapper.stop);
      const nobodysWrapper = sleepAs(uid, gid);
      stops.push(nobodysWrapper.stop);
      const forge = (stateDir: string, wrapper: { pid: number; starttime: number }, owner?: { uid: number; gid: number }) => {
        const forged = forgeRun(stateDir, { wrapper_pid: wrapper.pid, wrapper_starttime: wrapper.starttime, started_at: new Date().toISOString() });
        if (owner) for (const path of [join(stateDir, 'running', `${forged.id}.json`), forged.journal_path]) chownSync(path, owner.uid, owner.gid);
        const carrier = foreignSleep({ SCIDEX_RUN_ID: forged.id, SCIDEX_TEST_TAG: tag });
        stops.push(carrier.stop);
        return { id: forged.id, carrier };
      };

      // nobody's marker naming root's process as its wrapper: not its wrapper (another uid), nothing measured.
      const intruder = stateDirOwnedBy(uid, gid);
      const rootWrapped = forge(intruder, rootsWrapper, { uid, gid });
      const rootWrappedView = await viewOf(rootWrapped.id, intruder);
      expect(rootWrappedView).toMatchObject({ run: { id: rootWrapped.id, status: 'running' }, source: 'journal', live: null });
      // From another state directory: its "wrapper" writes no journal of the run, so no directory is looked in.
      expect(liveFigures(rootWrappedView.run, newStateDir())).toBeNull();

      // nobody's marker naming nobody's process: measured, but only nobody's processes may be the run's.
      const nobodys = stateDirOwnedBy(uid, gid);
      const nobodyWrapped = forge(nobodys, nobodysWrapper, { uid, gid });
      const measured = await viewOf(nobodyWrapped.id, nobodys);
      expect(measured.live).toMatchObject({ process_count: 0, processes: [], rss_bytes: 0 });
      expect(aliveWith(nobodyWrapped.carrier.pid, nobodyWrapped.carrier.starttime)).toBe(true);

      // Positive control: root's own state directory, root's wrapper: the carrier is the run's.
      const own = newStateDir();
      const ours = forge(own, rootsWrapper);
      const view = await viewOf(ours.id, own);
      expect(view.live?.processes).toEqual([expect.objectContaining({ pid: ours.carrier.pid, comm: 'sleep', found_by: 'cookie' })]);
      expect(view.live?.process_count).toBe(1);
    } finally {
      for (const stop of stops) stop();
      await until('the sleeps to be gone', () => tagged(tag).length === 0, HANG_MS);
    }
  });

  it("of nobody's real run, read from root's state directory: its marker found where nobody's wrapper writes its journal", SEVERAL_RUNS, async () => {
    if (nobody.skip !== undefined) return;
    const { uid, gid } = nobody.owner;
    const stateDir = stateDirOwnedBy(uid, gid);
    // As nobody, through runuser: a wrapper of nobody's in nobody's own state directory, as a user's run beside a root daemon.
    const wrapper = startWrapper(['--quiet', '--tracking', 'pgroup', '--timeout', '10m', '--', 'sleep', '120'], { tag, stateDir, via: ['runuser', '-u', 'nobody', '--', process.execPath] });
    let wrapperPid = 0;
    try {
      const run = await until('the run to start', () => journalSoFar(stateDir)?.runs.at(-1), HANG_MS);
      wrapperPid = run.wrapper_pid;
      const sleep = await until('the sleep', () => tagged(tag).find((pid) => readStat(pid)?.comm === 'sleep'), HANG_MS);
      const live = liveFigures(run, newStateDir());
      expect(live?.processes).toEqual([expect.objectContaining({ pid: sleep, comm: 'sleep' })]);
      // The same run named with another wrapper pid (a forged row): nothing is looked for beyond root's own directory.
      expect(liveFigures({ ...run, wrapper_pid: sleep, wrapper_starttime: readStat(sleep)!.starttime }, newStateDir())).toBeNull();
    } finally {
      // SIGTERM to nobody's wrapper itself (runuser waits for it): it ends its tree before it exits.
      if (wrapperPid > 1) process.kill(wrapperPid, 'SIGTERM');
      else wrapper.kill('SIGTERM');
      await wrapper;
      await until('the run to be gone', () => tagged(tag).length === 0, HANG_MS);
    }
  });

  it("of root's real run, lists nobody's process carrying its cookie nowhere; root's own carrier is the run's", SEVERAL_RUNS, async () => {
    if (nobody.skip !== undefined) return;
    const stateDir = newStateDir();
    const stops: (() => void)[] = [];
    const wrapper = startWrapper(['--quiet', '--tracking', 'pgroup', '--timeout', '10m', '--', 'sleep', '120'], { tag, stateDir });
    try {
      const runId = await until('the marker', () => listMarkers(stateDir)[0], HANG_MS);
      const sleep = await until('the sleep', () => tagged(tag).find((pid) => pid !== wrapper.pid && readStat(pid)?.comm === 'sleep'), HANG_MS);
      const intruder = await cookieCarrierAs(nobody.owner, nobody.python, runId, tag, 64);
      stops.push(intruder.stop);
      const ours = foreignSleep({ SCIDEX_RUN_ID: runId, SCIDEX_TEST_TAG: tag });
      stops.push(ours.stop);
      const { live } = await viewOf(runId, stateDir);
      expect(live?.processes.map((process) => process.pid).sort((a, b) => a - b)).toEqual([sleep, ours.pid].sort((a, b) => a - b));
      expect(live?.processes.find((process) => process.pid === ours.pid)?.found_by).toBe('cookie');
      expect(live?.rss_bytes).toBeLessThan(64 * MIB);
      expect(aliveWith(intruder.pid, intruder.starttime)).toBe(true);
    } finally {
      // SIGTERM: the wrapper ends its tree before it exits, so nothing of the run is orphaned.
      if (wrapper.exitCode === null && wrapper.signalCode === null) wrapper.kill('SIGTERM');
      await wrapper;
      for (const stop of stops) stop();
      await until('the run and the carriers to be gone', () => tagged(tag).length === 0, HANG_MS);
    }
  });
});
