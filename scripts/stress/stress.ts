// A stress run, start to end: a throwaway PostgreSQL with a small max_connections, a few shared
// state directories (one on a small tmpfs, as root), sentinels, one `scidex-watchdog serve`; then
// the planned runs of the real bin/scidex-run with faults injected while they are in progress; then
// the end: faults settled, the daemon stopped, background processes given time to finish, a final
// `reap` and `ship --wait 60s` on each state directory, and the checks. Everything started here is
// ended here, by pid. `npm run stress` (main.ts) and test/integration/stress.test.ts call runStress.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/helpers/throwaway-postgres.js';
import { describeProcess, environValue, RUN_BIN, Processes, type Exit } from './context.js';
import { FaultInjector } from './faults.js';
import { FullDisk } from './full-disk.js';
import { checkRecords, type Violation } from './invariants.js';
import type { StressOptions } from './options.js';
import { Random } from './random.js';
import type { StressResult } from './report.js';
import { planRuns, RunPool, type RunOutcome } from './runs.js';
import { Sentinels } from './sentinels.js';
import { Watchdogs, type Serve } from './watchdogs.js';

/** Size of the full-disk tmpfs, KiB: room for a few journals between two fills. */
const FULL_DISK_KIB = 1024;
/** The daemon's sweep interval, ms: short, so that its reaps and ships meet the runs often. */
const SERVE_INTERVAL_MS = 300;

const ended = (exit: Exit): string => (exit.code !== null ? `exit ${exit.code}` : exit.signal ? `${exit.signal}` : 'spawn failed');

/** The backends `scidex-run --explain-tracking --json` reports available here. */
async function availableBackends(procs: Processes): Promise<string[]> {
  const { stdout } = await promisify(execFile)(RUN_BIN, ['--explain-tracking', '--json'], { env: procs.env(undefined) });
  const report = JSON.parse(stdout) as { backends: { backend: string; available: boolean }[] };
  return report.backends.filter((entry) => entry.available).map((entry) => entry.backend);
}

/**
 * Waits until no process carries our tag, or `timeoutMs` passes.
 * @returns how long it waited, ms
 */
async function quiet(procs: Processes, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (procs.tagged().length > 0 && performance.now() - t0 < timeoutMs) await sleep(100);
  return performance.now() - t0;
}

/** Median, 95th percentile and maximum of the wrappers' lifetimes, ms. */
function lifetimes(outcomes: readonly RunOutcome[]): { median: number; p95: number; max: number } {
  const sorted = outcomes.map((outcome) => outcome.wallMs).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { median: at(0.5), p95: at(0.95), max: sorted.at(-1) ?? 0 };
}

/** Wrapper stderr lines grouped by shape (ids, paths, numbers replaced), most frequent first. */
function wrapperMessages(outcomes: readonly RunOutcome[]): { line: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const outcome of outcomes) {
    let text: string;
    try {
      text = readFileSync(outcome.wrapper.log, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const shape = line
        .replace(/postgres(ql)?:\/\/\S+/g, '<url>')
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
        .replace(/(?<![\w:])\/[^\s:,;)]+/g, '<path>')
        .replace(/\d+(\.\d+)?( ?(ms|s|B|KiB|MiB|GiB))?/g, 'N');
      counts.set(shape, (counts.get(shape) ?? 0) + 1);
    }
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([line, count]) => ({ line, count }));
}

/** Writes every row of the four tables to `path` (JSON), for a post-mortem of a failed stress run. */
async function dumpDatabase(url: string, path: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'scidex-stress' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const dump: Record<string, unknown[]> = {};
    for (const table of ['runs', 'events', 'processes', 'samples']) {
      dump[table] = (await client.query(`SELECT row_to_json(t) AS row FROM watchdog_${table} t`)).rows.map((row: { row: unknown }) => row.row);
    }
    writeFileSync(path, JSON.stringify(dump, null, 1));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Runs the stress test described by `options` and checks the invariants (see the headers of
 * main.ts and invariants.ts).
 * @returns the result; it failed when `violations` is not empty
 * @throws when the set-up fails (the server, the migration, the daemon, a sentinel): nothing was run then
 */
export async function runStress(options: StressOptions): Promise<StressResult> {
  const { log } = options;
  const t0 = performance.now();
  const phasesMs: Record<string, number> = {};
  let phaseStart = t0;
  const phase = (name: string) => {
    const now = performance.now();
    phasesMs[name] = Math.round(now - phaseStart);
    phaseStart = now;
  };
  const procs = new Processes(options.tag);
  // A harness stopped on the way (Ctrl-C: main.ts exits) kills what it started before the other exit
  // handlers, registered after this one, stop the server, the sentinels and unmount the tmpfs.
  process.on('exit', procs.killAllNow);
  const work = mkdtempSync(join(tmpdir(), 'scidex-stress-'));
  const logDir = join(work, 'logs');
  mkdirSync(logDir);
  log(`seed ${options.seed}; ${options.runs} runs; work directory ${work}; tag ${procs.entry}`);
  const violations: Violation[] = [];
  const notes: string[] = [];
  let server: ThrowawayPostgres | undefined;
  let disk: FullDisk | undefined;
  let sentinels: Sentinels | undefined;
  let serve: Serve | undefined;
  // The work directory stays for a post-mortem when asked, and when a violation was found.
  let keep = options.keep;
  let interrupted: (() => void) | undefined;
  try {
    server = await startThrowawayPostgres({ maxConnections: options.maxConnections });
    // On the way out (Ctrl-C), after throwaway-postgres's own exit handler has stopped the server.
    const serverDir = server.dir;
    interrupted = () => {
      rmSync(serverDir, { recursive: true, force: true });
      process.stderr.write(`stress: interrupted; the work directory ${work} is left for a post-mortem\n`);
    };
    process.on('exit', interrupted);
    const databaseUrl = server.url;
    log(`PostgreSQL at ${databaseUrl.replace(/:[^:@/]*@/, ':***@')}, max_connections ${options.maxConnections}`);
    const watchdogs = new Watchdogs(procs, databaseUrl, logDir, options.hangMs);
    const migrated = await watchdogs.run('migrate', ['migrate']);
    if (migrated.exit.code !== 0) throw new Error(`scidex-watchdog migrate: ${ended(migrated.exit)} (see ${migrated.log})`);

    const stateDirs = Array.from({ length: options.stateDirs }, (_, index) => {
      const dir = join(work, `state-${index}`);
      mkdirSync(dir, { mode: 0o700 });
      return dir;
    });
    let fullDisk = 'not asked for (--no-full-disk)';
    if (options.fullDisk) {
      const mounted = await FullDisk.mount(work, FULL_DISK_KIB);
      if (mounted instanceof FullDisk) {
        disk = mounted;
        stateDirs.push(disk.stateDir);
        fullDisk = `tmpfs of ${FULL_DISK_KIB} KiB as state directory ${stateDirs.length - 1}, filled by disk-fill faults`;
      } else {
        fullDisk = `fault skipped: ${mounted.skipped}`;
      }
    }
    log(`full disk: ${fullDisk}`);
    const backends = await availableBackends(procs);
    const sentinelDir = join(work, 'sentinels');
    mkdirSync(sentinelDir);
    sentinels = await Sentinels.start(procs, options.sentinels, sentinelDir);
    serve = await watchdogs.startServe(stateDirs[0], SERVE_INTERVAL_MS);
    log(`sentinels ${sentinels.pids.join(', ')}; scidex-watchdog serve pid ${serve.process.pid} on 127.0.0.1:${serve.port} for state dir 0; backends ${backends.join(', ')}`);
    phase('set-up');

    // The run phase: runs at their planned moments, faults until the last wrapper has exited.
    const plans = planRuns(new Random(options.seed, 'runs'), options.runs, options.durationMs, stateDirs.length, backends, procs.tag);
    const pool = new RunPool(procs, stateDirs, logDir, databaseUrl, options.concurrency, options.hangMs);
    const injector = new FaultInjector({ server, pool, procs, watchdogs, stateDirs, disk, log }, new Random(options.seed, 'faults'), options.faultGapMs);
    const running = pool.runAll(plans, performance.now());
    const faulting = injector.run(running.then(() => undefined));
    const outcomes = await running;
    await faulting;
    log(`all ${outcomes.length} wrappers have exited`);
    phase('runs');

    // Settle: server up, disk freed, watchdogs done, daemon stopped, background processes ended.
    await injector.settle();
    violations.push(...injector.errors.map((detail) => ({ kind: 'harness', detail })));
    const daemonEnd = await serve.stop(60_000);
    const daemon = `scidex-watchdog serve on 127.0.0.1:${serve.port}: ${ended(daemonEnd.exit)}${daemonEnd.killed ? ' (SIGKILLed after 60 s)' : ''}`;
    if (daemonEnd.killed || daemonEnd.exit.code !== 0) violations.push({ kind: 'daemon', detail: `${daemon} (log ${serve.process.log})` });
    serve = undefined;
    const waited = await quiet(procs, options.settleMs);
    const lingering = procs.tagged().map((proc) => describeProcess(proc.pid));
    log(`background processes: ${lingering.length} still running after ${(waited / 1000).toFixed(1)} s`);
    if (lingering.length > 0) notes.push(`${lingering.length} processes of ours still running ${(waited / 1000).toFixed(1)} s after the last wrapper, before the final reap: ${lingering.join('; ')}`);
    phase('settle');

    // The final reap, then ship --wait 60s, on each state directory.
    for (const dir of stateDirs) await watchdogs.run('final reap', ['reap', '--state-dir', dir]);
    for (const dir of stateDirs) {
      const shipped = await watchdogs.run('final ship', ['ship', '--state-dir', dir, '--wait', '60s', '--quiet']);
      if (shipped.exit.code !== 0) notes.push(`final ship of ${dir}: ${ended(shipped.exit)} (log ${shipped.log})`);
    }
    phase('final');

    // 3. No process of ours survives (the tag), killed by pid after re-checking the tag.
    await quiet(procs, 5000);
    const survivors = procs.tagged();
    for (const proc of survivors) {
      violations.push({ kind: 'survivor', run: environValue(proc.pid, 'SCIDEX_RUN_ID'), detail: `${describeProcess(proc.pid)} still alive at the end; killed by pid` });
      procs.kill(proc);
    }
    // 1, 2 and 5: the records.
    const checked = await checkRecords({ stateDirs, fullDiskDir: disk?.stateDir, databaseUrl, outcomes });
    violations.push(...checked.violations);
    notes.push(...checked.notes);
    // 4. No sentinel got a signal.
    for (const problem of sentinels.check()) violations.push({ kind: 'sentinel', detail: `sentinel pid ${problem.pid} ${problem.what}` });
    if (violations.length > 0) {
      keep = true;
      await dumpDatabase(databaseUrl, join(work, 'database.json')).catch((error: unknown) => log(`cannot dump the database: ${error}`));
    }
    phase('checks');

    const byKind: Record<string, number> = {};
    const wrapperEnds: Record<string, number> = {};
    for (const outcome of outcomes) {
      byKind[outcome.plan.kind] = (byKind[outcome.plan.kind] ?? 0) + 1;
      wrapperEnds[ended(outcome.exit)] = (wrapperEnds[ended(outcome.exit)] ?? 0) + 1;
    }
    const watchdogEnds: Record<string, Record<string, number>> = {};
    for (const cli of watchdogs.finished) {
      const ends = (watchdogEnds[cli.label] ??= {});
      const end = cli.hung ? 'hung' : ended(cli.exit);
      ends[end] = (ends[end] ?? 0) + 1;
    }
    return {
      seed: options.seed,
      settings: {
        runs: options.runs, concurrency: options.concurrency, durationMs: options.durationMs, stateDirs: options.stateDirs,
        faultGapMs: options.faultGapMs, maxConnections: options.maxConnections, sentinels: options.sentinels,
      },
      fullDisk,
      runs: {
        planned: plans.length, byKind, wrapperEnds,
        killedByHarness: outcomes.filter((outcome) => outcome.killedAtMs !== undefined).length,
        hung: outcomes.filter((outcome) => outcome.hung).length,
        wallMs: lifetimes(outcomes),
      },
      faults: injector.tally,
      watchdogs: watchdogEnds,
      daemon,
      journalLines: checked.journalLines,
      databaseRows: checked.databaseRows,
      statuses: checked.statuses,
      survivors: survivors.length,
      violations,
      notes,
      wrapperMessages: wrapperMessages(outcomes),
      elapsedMs: Math.round(performance.now() - t0),
      phasesMs,
    };
  } finally {
    process.off('exit', procs.killAllNow);
    if (interrupted) process.off('exit', interrupted);
    if (serve) await serve.stop(10_000);
    for (const proc of procs.tagged()) procs.kill(proc);
    sentinels?.stop();
    await sentinels?.ended();
    const unmounted = await disk?.unmount(keep ? join(work, 'full-disk-state') : undefined);
    if (unmounted) log(unmounted);
    await server?.destroy().catch((error: unknown) => log(`cannot remove the throwaway server: ${error}`));
    if (keep) log(`kept ${work} (logs/, state-*/, full-disk-state/, database.json)`);
    else {
      try {
        rmSync(work, { recursive: true, force: true });
      } catch (error) {
        log(`cannot remove ${work}: ${(error as Error).message}`);
      }
    }
  }
}
