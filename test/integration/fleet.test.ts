/**
 * The fleet view's data (src/query/fleet.ts readFleet) across two hosts on one database of the
 * file's own: this host and a second one, a UTS namespace with another hostname
 * (test/helpers/second-host.ts; root only). Each host runs a real `scidex-watchdog serve` with a
 * state directory of its own and a real run; the second host also has a run killed at its timeout,
 * and a third host a run and no daemon. Both daemons are `up` (the third host's `none`), both running
 * runs are listed with their newest sample's RSS, the kill is counted in its host's hour, and the
 * analysis id filters the running runs, the kills and the hosts' counts, not the hosts. Once the
 * second daemon stops, it is `stale`. And `show` of the second host's running run, from this host, gives
 * its last heartbeat's figures and says so, where this host's run is measured now.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { upsertDaemon } from '../../src/query/daemons.js';
import { readFleet } from '../../src/query/fleet.js';
import type { FleetBody } from '../../src/query/fleet-body.js';
import { listMarkers } from '../../src/record/markers.js';
import { withSchema } from '../../src/record/migrate.js';
import { ownDatabase } from '../helpers/own-database.js';
import { ownedTag } from '../helpers/processes.js';
import { asHost, secondHostUnavailable } from '../helpers/second-host.js';
import { freeLoopbackPort } from '../helpers/server-host.js';
import { until } from '../helpers/until.js';
import { journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));
const SECOND = 'scidex-fleet-b';
/** A host with a run and no daemon. */
const THIRD = 'scidex-fleet-c';
const HERE = hostname();
const HOUR_MS = 3_600_000;
/** A bound far above what anything here needs: a hang fails the test instead of blocking it. */
const HANG_MS = 60_000;
const unavailable = secondHostUnavailable();

const tag = ownedTag();
const database = ownDatabase('fleet');
/** readFleet's connection to it. */
const config = { url: database.url, display: 'the test\'s own database' };

/** A real daemon of host `via` (this host when empty), its output appended to the file descriptor `log`; never rejects. */
function startServe(stateDir: string, port: number, logFd: number, via: string[] = []) {
  // A file descriptor, not a pipe: execa's promise would wait for any grandchild holding a pipe.
  const log = logFd as 3;
  const [file, ...args] = [...via, WATCHDOG, 'serve', '--listen', `127.0.0.1:${port}`, '--interval', '500ms', '--state-dir', stateDir, '--database-url', database.url];
  return execa(file, args, { reject: false, stdin: 'ignore', stdout: log, stderr: log, env: { SCIDEX_RUN_STATE_DIR: stateDir, SCIDEX_TEST_TAG: tag } });
}

/** A run of `analysis` on host `via` (this host when undefined), `sleep 300` bounded by `timeout`, on the test's database. */
function startRun(stateDir: string, analysis: string, timeout: string, via?: string[]) {
  return startWrapper(['--quiet', '--analysis-id', analysis, '--timeout', timeout, '--grace', '1s', '--heartbeat-interval', '1s', '--', 'sleep', '300'], {
    tag,
    stateDir,
    env: { DATABASE_URL: database.url },
    via,
  });
}

const killsOf = (body: FleetBody, host: string) => body.kills.filter((bucket) => bucket.host === host);
const hostOf = (body: FleetBody, host: string) => body.hosts.find((entry) => entry.host === host);

describe.skipIf(unavailable !== undefined)(`the fleet view across two hosts${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  // Two daemons, four wrapper runs and the fleet's reads, each slow on a host loaded by the suite: more than
  // the default 60 s there; above the 5 min timeouts that only bound the runs the test cancels.
  it('lists both daemons up, the running runs of both, a kill in its hour, and filters by analysis id', { timeout: 420_000 }, async () => {
    const [here, second] = [newStateDir(), newStateDir()];
    const logFile = join(mkdtempSync(join(tmpdir(), 'scidex-fleet-')), 'serve.log');
    const log = openSync(logFile, 'a');
    const started: { pid?: number; exitCode: number | null; signalCode: string | null; kill(signal: NodeJS.Signals): boolean }[] = [];
    const ending: Promise<unknown>[] = [];
    await database.create();
    // readFleet reads only a schema this process has checked (the daemons' sweeps check theirs).
    await withSchema(config, async () => undefined);
    try {
      const daemons = [startServe(here, await freeLoopbackPort(), log), startServe(second, await freeLoopbackPort(), log, asHost(SECOND))];
      started.push(...daemons);
      ending.push(...daemons);
      const runHere = startRun(here, 'fleet-here', '5m');
      const runSecond = startRun(newStateDir(), 'fleet-second', '5m', asHost(SECOND));
      started.push(runHere, runSecond);
      ending.push(runHere, runSecond);
      // The kill: the second host's run stopped at its 1 s timeout (signal_sent events).
      const killedDir = newStateDir();
      const killed = await startRun(killedDir, 'fleet-kill', '1s', asHost(SECOND));
      expect(killed.exitCode, killed.stderr).toBe(124);
      const third = await startWrapper(['--quiet', '--analysis-id', 'fleet-third', '--', 'true'], { tag, env: { DATABASE_URL: database.url }, via: asHost(THIRD) });
      expect(third.exitCode, third.stderr).toBe(0);
      const killedRun = journalOf(killedDir);
      expect(killedRun.runs.at(-1)).toMatchObject({ host: SECOND, status: 'timeout' });
      const signalled = killedRun.events.find((event) => event.kind === 'signal_sent')!;
      const idOf = async (wrapper: typeof runHere, stateDir: string) => {
        await until(`the marker of wrapper ${wrapper.pid}`, () => listMarkers(stateDir).length > 0, HANG_MS);
        return listMarkers(stateDir)[0];
      };
      const hereId = await idOf(runHere, here);
      const secondId = await until('the second host\'s running run', async () => (await readFleet(config, 'fleet-second')).running[0]?.id, HANG_MS, { every: 200 });

      // Both daemons up, both runs running with a sample's RSS, the kill in its hour.
      const all = await until(
        () => `both daemons up and both runs sampled; serve's log:\n${readFileSync(logFile, 'utf8')}`,
        async () => {
          const body = await readFleet(config, null);
          const up = [HERE, SECOND].every((host) => hostOf(body, host)?.daemon === 'up');
          const sampled = body.running.length === 2 && body.running.every((run) => run.rss_bytes !== null);
          return up && sampled ? body : undefined;
        },
        HANG_MS,
        { every: 200 },
      );
      expect(all.analysis_id).toBeNull();
      expect(all.running_total).toBe(2);
      expect(all.hosts.map((host) => host.host)).toEqual([HERE, SECOND, THIRD].sort());
      expect(hostOf(all, THIRD)).toEqual({
        host: THIRD, daemon: 'none', daemon_pid: null, version: null, heartbeat_at: null, heartbeat_age_ms: null, interval_ms: null, listen: null, running: 0, kills_24h: 0,
      });
      expect(hostOf(all, HERE)).toMatchObject({ daemon: 'up', daemon_pid: daemons[0].pid, listen: expect.stringMatching(/^127\.0\.0\.1:\d+$/), running: 1, kills_24h: 0 });
      expect(hostOf(all, SECOND)).toMatchObject({ daemon: 'up', daemon_pid: daemons[1].pid, running: 1, kills_24h: 1 });
      expect(all.running.map((run) => [run.host, run.id, run.analysis_id]).sort()).toEqual([[HERE, hereId, 'fleet-here'], [SECOND, secondId, 'fleet-second']].sort());
      expect(Date.parse(all.running[0].started_at)).toBeLessThanOrEqual(Date.parse(all.running[1].started_at));
      for (const run of all.running) {
        expect(run).toMatchObject({ argv: ['sleep', '300'], timeout_ms: 300_000, adopted: false, process_count: expect.any(Number) });
        expect(run.rss_bytes).toBeGreaterThan(0);
        // (PostgreSQL's times are microseconds; the body's milliseconds.)
        expect(Math.abs(run.elapsed_ms - (Date.parse(all.generated_at) - Date.parse(run.started_at)))).toBeLessThanOrEqual(1);
      }
      // 24 hours per host, oldest first, the last one the database's current hour; the kill in the hour of its signal.
      const currentHour = Math.floor(Date.parse(all.generated_at) / HOUR_MS) * HOUR_MS;
      for (const host of [HERE, SECOND, THIRD]) {
        expect(killsOf(all, host).map((bucket) => Date.parse(bucket.hour))).toEqual(Array.from({ length: 24 }, (_, i) => currentHour - (23 - i) * HOUR_MS));
      }
      const killHour = new Date(Math.floor(Date.parse(signalled.at) / HOUR_MS) * HOUR_MS).toISOString();
      expect(killsOf(all, SECOND).filter((bucket) => bucket.kills > 0)).toEqual([{ host: SECOND, hour: killHour, kills: 1 }]);
      expect(killsOf(all, HERE).every((bucket) => bucket.kills === 0)).toBe(true);

      // `show` here of the second host's running run: its last heartbeat's figures, said so; of this host's: measured now.
      const show = (args: string[]) => execa(WATCHDOG, ['show', ...args, '--database-url', database.url, '--state-dir', here], { reject: false, stdin: 'ignore', timeout: HANG_MS });
      const elsewhere = await show([secondId]);
      expect(elsewhere.exitCode, elsewhere.stderr).toBe(0);
      expect(elsewhere.stdout).toMatch(/^duration: +\S+ as of its last heartbeat \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\): not measured from here$/m);
      expect(JSON.parse((await show([secondId, '--json'])).stdout)).toMatchObject({ run: { id: secondId, host: SECOND, status: 'running' }, source: 'database', live: null });
      expect(JSON.parse((await show([hereId, '--json'])).stdout)).toMatchObject({ run: { id: hereId, host: HERE }, source: 'database', live: { process_count: 1 } });

      // The filter: running runs, kills and the hosts' counts follow it; the hosts stay.
      const hereOnly = await readFleet(config, 'fleet-here');
      expect(hereOnly.analysis_id).toBe('fleet-here');
      expect(hereOnly.hosts.map((host) => host.host)).toEqual(all.hosts.map((host) => host.host));
      expect(hereOnly.running.map((run) => run.id)).toEqual([hereId]);
      expect(hereOnly.kills.every((bucket) => bucket.kills === 0)).toBe(true);
      expect(hostOf(hereOnly, SECOND)).toMatchObject({ daemon: 'up', running: 0, kills_24h: 0 });
      const killOnly = await readFleet(config, 'fleet-kill');
      expect(killOnly.running).toEqual([]);
      expect(killOnly.kills.filter((bucket) => bucket.kills > 0)).toEqual([{ host: SECOND, hour: killHour, kills: 1 }]);
      expect((await readFleet(config, 'no-such-analysis')).running).toEqual([]);

      // Ended: the runs leave the list (a cancel each: SIGTERM to the wrapper, 143).
      for (const run of [runHere, runSecond]) run.kill('SIGTERM');
      expect([(await runHere).exitCode, (await runSecond).exitCode]).toEqual([143, 143]);
      await until('the cancels to reach the database', async () => (await readFleet(config, null)).running.length === 0, HANG_MS, { every: 200 });

      // The second host's daemon stopped: stale once its heartbeat is 3 intervals old; this host's stays up.
      daemons[1].kill('SIGTERM');
      await daemons[1];
      const stale = await until('the second daemon stale', async () => {
        const body = await readFleet(config, null);
        return hostOf(body, SECOND)?.daemon === 'stale' ? body : undefined;
      }, HANG_MS, { every: 200 });
      expect(hostOf(stale, SECOND)!.heartbeat_age_ms).toBeGreaterThan(3 * 500);
      expect(hostOf(stale, HERE)!.daemon).toBe('up');
    } finally {
      for (const child of started) if (child.exitCode === null && child.signalCode === null && child.pid !== undefined && child.pid > 1) child.kill('SIGTERM');
      await Promise.all(ending);
      closeSync(log);
      await database.drop();
    }
  });
});

describe('the day of the fleet view, on rows written with SQL, the session in Asia/Kolkata (UTC+5:30)', () => {
  it("counts each killed run once, in the UTC hour of its first kill, kills_24h the sum of its buckets; a daemon's heartbeat is the database's now()", async () => {
    const own = ownDatabase('fleet_day');
    const ownConfig = { url: own.url, display: "the test's own database" };
    const HOST = 'scidex-fleet-day';
    await own.create();
    try {
      await withSchema(ownConfig, async () => undefined);
      const client = new pg.Client({ connectionString: own.url });
      await client.connect();
      try {
        await client.query(`ALTER DATABASE ${new URL(own.url).pathname.slice(1)} SET timezone = 'Asia/Kolkata'`);
        const run = async (at: string) => {
          const id = randomUUID();
          await client.query(
            `INSERT INTO watchdog_runs (id, revision, host, boot_id, wrapper_pid, wrapper_starttime, argv, cwd, username, timeout_ms, memory_limit_bytes,
               grace_ms, orphan_policy, tracking_backend, journal_path, started_at, heartbeat_at, ended_at, status)
             VALUES ($1, 2, $2, 'boot', 1000, 1, '{sleep,300}', '/', 'user', 1000, 0, 1000, 'kill', 'pgroup', '/j.jsonl', ${at}, ${at}, ${at}, 'timeout')`,
            [id, HOST],
          );
          return id;
        };
        const kill = (runId: string, kind: string, at: string) =>
          client.query(`INSERT INTO watchdog_events (id, run_id, at, kind, elapsed_ms) VALUES ($1, $2, ${at}, $3, 0)`, [randomUUID(), runId, kind]);
        const hour = (offset: string) => `date_trunc('hour', now(), 'UTC') ${offset}`;
        // A SIGTERM a second before an hour's end and its SIGKILL a second after: one kill, in the first hour.
        const across = await run(hour("- interval '3 hours'"));
        await kill(across, 'signal_sent', hour("- interval '2 hours' - interval '1 second'"));
        await kill(across, 'signal_sent', hour("- interval '2 hours' + interval '1 second'"));
        // Killed a second before the day's first hour (within now() - 24 h), signalled again inside it: killed before the day.
        const before = await run(hour("- interval '24 hours'"));
        await kill(before, 'signal_sent', hour("- interval '23 hours' - interval '1 second'"));
        await kill(before, 'signal_sent', hour("- interval '23 hours' + interval '1 second'"));
        // The kernel's OOM kill in the current hour.
        await kill(await run(hour('')), 'kernel_oom_kill', hour(''));
      } finally {
        await client.end();
      }
      const body = await readFleet(ownConfig, null);
      const session = new pg.Client({ connectionString: own.url });
      await session.connect();
      try {
        expect((await session.query<{ TimeZone: string }>('SHOW timezone')).rows[0].TimeZone).toBe('Asia/Kolkata');
      } finally {
        await session.end();
      }
      const currentHour = Math.floor(Date.parse(body.generated_at) / HOUR_MS) * HOUR_MS;
      expect(killsOf(body, HOST).map((bucket) => bucket.hour)).toEqual(Array.from({ length: 24 }, (_, i) => new Date(currentHour - (23 - i) * HOUR_MS).toISOString()));
      expect(killsOf(body, HOST).filter((bucket) => bucket.kills > 0)).toEqual([
        { host: HOST, hour: new Date(currentHour - 3 * HOUR_MS).toISOString(), kills: 1 },
        { host: HOST, hour: new Date(currentHour).toISOString(), kills: 1 },
      ]);
      expect(hostOf(body, HOST)).toMatchObject({ daemon: 'none', running: 0, kills_24h: 2 });

      // A daemon row an older daemon wrote with a clock 5 min ahead: a negative age. upsertDaemon writes the database's now().
      const daemonClient = new pg.Client({ connectionString: own.url });
      await daemonClient.connect();
      try {
        await daemonClient.query(
          `INSERT INTO watchdog_daemons (host, pid, started_at, heartbeat_at, interval_ms, version) VALUES ($1, 1, now(), now() + interval '5 minutes', 500, 'old')`,
          [HOST],
        );
        expect(hostOf(await readFleet(ownConfig, null), HOST)!.heartbeat_age_ms).toBeLessThan(-4 * 60_000);
        await upsertDaemon(daemonClient, { host: HOST, pid: 2, started_at: new Date(Date.now() + 300_000).toISOString(), interval_ms: 500, version: 'new', listen: null });
      } finally {
        await daemonClient.end();
      }
      const beaten = hostOf(await readFleet(ownConfig, null), HOST)!;
      expect(beaten).toMatchObject({ daemon: 'up', daemon_pid: 2, version: 'new' });
      // Written at the database's now(), not 5 min ahead: no age below 0, and none as old as a hang bound
      // (not a speed target: two round trips on a host loaded by the suite take seconds).
      expect(beaten.heartbeat_age_ms).toBeGreaterThanOrEqual(0);
      expect(beaten.heartbeat_age_ms).toBeLessThan(HANG_MS);
    } finally {
      await own.drop();
    }
  });
});
