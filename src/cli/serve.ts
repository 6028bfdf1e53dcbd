/**
 * `scidex-watchdog serve`: the host daemon (src/watchdog/daemon.ts) in the foreground, and
 * `scidex-watchdog status`: whether this host's daemon is up.
 *
 * serve checks everything it can before doing anything: the state directory must be writable,
 * the interval, retention and pressure-guard options readable, the database URL well formed, and the listener bound; any
 * failure is one line and exit status 125, and nothing is left half started. Then it sweeps until
 * SIGTERM, SIGINT or SIGHUP: the sweep under way is finished, the server closed, and it exits 0. A second
 * signal exits at once (128 + the signal).
 *
 * Under systemd (Type=notify) it sends READY=1 once it serves, a STATUS= line after each sweep,
 * WATCHDOG=1 pings only while sweeps keep ending (src/sys/sd-notify.ts), and STOPPING=1. With a
 * database it also delivers the cancel requests other hosts leave for this one (cancel-delivery.ts).
 */
import { constants } from 'node:os';
import { join } from 'node:path';
import { resolveDatabase, type DatabaseConfig } from '../config/database.js';
import { MAX_TIMER_MS, parseDurationMs, formatDuration } from '../config/duration.js';
import { UsageError } from '../config/errors.js';
import { parsePressureGuard, type PressureGuardConfig } from '../config/pressure.js';
import { defaultStateDir, RUN_DEFAULTS } from '../config/run-config.js';
import { describeDatabaseError } from '../record/db-error.js';
import { releaseLock, takeLock } from '../record/lock-file.js';
import { readStateFile } from '../record/state-file.js';
import { prepareJournalDir } from '../record/state-dir.js';
import { heartbeat, notifier, startWatchdogPings } from '../sys/sd-notify.js';
import { listenForCancels } from '../watchdog/cancel-delivery.js';
import { repeatLimited } from '../watchdog/repeat-limit.js';
import { Daemon, daemonsOfDatabase } from '../watchdog/daemon.js';
import { judgeDaemon, readDaemonFile, whyNoDaemonFile } from '../watchdog/daemon-file.js';
import { formatListen, parseListen, type ListenAddress } from '../watchdog/http/server.js';
import { printLine } from './output.js';
import { packageVersion } from './version.js';

const PROGRAM = 'scidex-watchdog';




interface ServeArgs {
  listen: string;
  interval: string;
  stateDir?: string;
  databaseUrl?: string;
  pressureGuard?: string;
  minAvailable?: string;
  maxMemoryPressure?: string;
  pressureDuration?: string;
}

/**
 * Runs the daemon until SIGTERM, SIGINT or SIGHUP.
 * @returns the exit status (0)
 * @throws UsageError for bad input (exit 125): --listen, --interval, retention, database URL, state directory, a listener that cannot be bound
 */
export async function serveCommand(argv: ServeArgs): Promise<number> {
  const listen = parseListen(argv.listen);
  // Sweeps run end to start, so a tiny interval is a busy loop against /proc and PostgreSQL.
  const intervalMs = parseDurationMs(argv.interval, '--interval', { minMs: 100, maxMs: MAX_TIMER_MS });
  if (intervalMs <= 0) throw new UsageError(`invalid --interval '${argv.interval}': must be more than 0`);
  const retention = process.env.SCIDEX_RUN_JOURNAL_RETENTION ?? RUN_DEFAULTS.journalRetention;
  const retentionMs = parseDurationMs(retention, 'SCIDEX_RUN_JOURNAL_RETENTION');
  const pressureGuard = parsePressureGuard(argv);
  const database = resolveDatabase(argv.databaseUrl, process.env);
  const stateDir = argv.stateDir ?? defaultStateDir(process.env);
  prepareJournalDir(stateDir);
  // Two daemons on one state directory would both reap, ship and deliver cancels, and take turns
  // writing watchdog.json.
  const lock = join(stateDir, 'serve.lock');
  if (!takeLock(lock)) throw new UsageError(`another scidex-watchdog serve (${lockHolder(lock)}) runs with state directory '${stateDir}'`);
  try {
    return await serveLocked(listen, intervalMs, retentionMs, database, stateDir, pressureGuard);
  } finally {
    releaseLock(lock);
  }
}

/** Who holds a lock, for a message: `pid N`, or `a process` when the file cannot be read. */
function lockHolder(path: string): string {
  try {
    return `pid ${readStateFile(path).split(':')[0]}`;
  } catch {
    return 'a process';
  }
}

async function serveLocked(
  listen: ListenAddress,
  intervalMs: number,
  retentionMs: number,
  database: DatabaseConfig | undefined,
  stateDir: string,
  pressureGuard: PressureGuardConfig,
): Promise<number> {
  const log = (line: string) => printLine(PROGRAM, line);
  const notify = notifier({ onError: () => undefined });
  // A sweep may wait out a lost run's grace period: allow two intervals and a minute before systemd steps in.
  const health = heartbeat(2 * intervalMs + 60_000);
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({
      stateDir,
      database,
      intervalMs,
      retentionMs,
      listen,
      version: packageVersion(),
      pressureGuard,
      log,
      onSweep: (report) => {
        health.beat();
        notify.status(`last sweep ${report.error ? `failed: ${report.error}` : `ok: ${report.reaped} runs reaped, ${report.shipped} records shipped`}`);
      },
    });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`state directory '${stateDir}' cannot be written (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  const address = formatListen(daemon.address);
  log(`serving http://${address}/ (/metrics, /status, /runs/<id>, /fleet); sweeping ${stateDir} every ${formatDuration(intervalMs)}; database ${database?.display ?? 'none'}; ${daemon.guard.describe()}`);
  notify.ready(`serving http://${address}/`);
  const stopPings = startWatchdogPings(notify, health.isHealthy);
  // Cancel requests from other hosts (watchdog_cancel_requests, NOTIFY scidex_cancel): cancel-delivery.ts.
  const cancelFailure = repeatLimited(log);
  const cancels = database
    ? listenForCancels(database, stateDir, (error) => cancelFailure(`cancel requests: database ${database.display} unavailable (${describeDatabaseError(error)})`))
    : undefined;

  let signalled = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signalled++;
    if (signalled > 1) {
      log(`${signal} again: exiting now`);
      process.exit(128 + (constants.signals[signal] ?? 15));
    }
    log(`${signal}: finishing the sweep under way, then stopping`);
    notify.stopping();
    daemon.stop();
  };
  // SIGHUP too (a closed terminal, or `systemctl kill -s HUP`): there is nothing to reload.
  const stopSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
  for (const signal of stopSignals) process.on(signal, onSignal);
  // Without a listener, SIGUSR1 makes Node open its inspector on 127.0.0.1:9229, where any local
  // user could connect and run code as this (root) daemon.
  const ignoreUsr1 = () => log('SIGUSR1 ignored (no debugger in a daemon)');
  process.on('SIGUSR1', ignoreUsr1);
  await daemon.run();
  await cancels?.close();
  stopPings();
  for (const signal of stopSignals) process.off(signal, onSignal);
  process.off('SIGUSR1', ignoreUsr1);
  log('stopped');
  return 0;
}

interface StatusArgs {
  stateDir?: string;
  databaseUrl?: string;
  json?: boolean;
}

/**
 * Says whether this host's daemon is up (watchdog.json: its process alive, its heartbeat younger
 * than three intervals) and, with a database, lists every host's daemon.
 * @returns 0 when this host's daemon is up, 1 when it is down or never ran with this state directory
 * @throws UsageError for a malformed database URL
 */
export async function statusCommand(argv: StatusArgs): Promise<number> {
  const stateDir = argv.stateDir ?? defaultStateDir(process.env);
  const database = resolveDatabase(argv.databaseUrl, process.env);
  const file = readDaemonFile(stateDir);
  const verdict = file ? judgeDaemon(file) : undefined;
  let daemons: Awaited<ReturnType<typeof daemonsOfDatabase>> | undefined;
  let databaseError: string | undefined;
  if (database) {
    try {
      daemons = await daemonsOfDatabase(database);
    } catch (error) {
      databaseError = `database ${database.display} unavailable (${describeDatabaseError(error)})`;
    }
  }
  const up = verdict?.up === true;
  if (argv.json) {
    process.stdout.write(
      JSON.stringify({
        state_dir: stateDir,
        up,
        why: file ? verdict!.why : whyNoDaemonFile(stateDir).why,
        daemon: file ?? null,
        ...(database ? { daemons: daemons ?? null, ...(databaseError ? { database_error: databaseError } : {}) } : {}),
      }) + '\n',
    );
    return up ? 0 : 1;
  }
  if (!file) {
    const absent = whyNoDaemonFile(stateDir);
    printLine(PROGRAM, absent.kind === 'unreadable' ? absent.why : `down: ${absent.why}`);
  } else if (up) {
    const sweep = file.last_sweep;
    const last = sweep ? `last sweep ${formatDuration(Date.now() - Date.parse(sweep.at))} ago${sweep.error ? ` failed: ${sweep.error}` : ' ok'}` : 'no sweep yet';
    printLine(PROGRAM, `up: pid ${file.pid} on ${file.host} since ${file.started_at}, serving ${file.listen}, sweeping every ${formatDuration(file.interval_ms)}; ${last}`);
  } else {
    printLine(PROGRAM, `down since ${file.heartbeat_at} (its last heartbeat): ${verdict!.why}`);
  }
  if (databaseError) printLine(PROGRAM, `warning: ${databaseError}: other hosts not listed`);
  for (const row of daemons ?? []) {
    const age = formatDuration(row.heartbeat_age_ms);
    process.stdout.write(`${row.host}\t${row.up ? 'up' : 'stale'}\tpid ${row.pid}\tlisten ${row.listen ?? '-'}\tversion ${row.version}\theartbeat ${age} ago\tstarted ${row.started_at}\n`);
  }
  return up ? 0 : 1;
}
