/**
 * The host daemon of `scidex-watchdog serve`: every interval one sweep, the same work as
 * `scidex-watchdog reap` then `scidex-watchdog ship`:
 *   1. reap: the state directory's markers of runs whose wrapper is gone, stale empty run cgroups,
 *      then (with a database) the rows of this host still `running` with no marker here;
 *   2. ship (with a database): the journals that still wait for PostgreSQL, except those of runs
 *      whose wrapper lives (it ships them itself at each heartbeat), and shipped journals past
 *      their retention are removed;
 *   3. heartbeat: `<state>/watchdog.json` (daemon-file.ts) and, with a database, this host's row in
 *      watchdog_daemons; and what /status shows from PostgreSQL (this host's latest kill events,
 *      the runs killed in the last day) is read once here rather than at every scrape.
 * Beside the sweeps, the memory-pressure guard (pressure-guard.ts) reads the host's memory at least
 * once a second and stops the largest run when the host runs short.
 * The pages' data read PostgreSQL at most PAGE_READS_AT_ONCE at a time (page-reads.ts): the
 * connections are the fleet's, and the sweeps and the wrappers' shipping must keep theirs.
 * Sweeps never overlap: the next starts one interval after the previous ended. A sweep that fails
 * (PostgreSQL down) is reported in one line and the daemon goes on; stopping waits for the sweep
 * under way (a reap must not be cut in the middle of a termination sequence), then closes the server.
 */
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import type { DatabaseConfig } from '../config/database.js';
import { readStat } from '../proc/stat.js';
import { bootId } from '../proc/system.js';
import { wrapperAlive } from '../proc/liveness.js';
import { PAGE_READ } from '../record/connect.js';
import { describeDatabaseError } from '../record/db-error.js';
import { readMarker } from '../record/markers.js';
import { openStateDir } from '../record/state-dir.js';
import { withSchema } from '../record/migrate.js';
import { isRunId } from '../config/run-id.js';
import { removeStaleCgroups } from '../track/stale-cgroups.js';
import { daemonUp, listDaemons, recentHostEvents, runsKilledLastDay, upsertDaemon } from '../query/daemons.js';
import { readFleet } from '../query/fleet.js';
import { readRunView } from '../query/run-view.js';
import { writeDaemonFile, type DaemonFile, type SweepReport } from './daemon-file.js';
import { closeServer, formatListen, listenOn, type ListenAddress } from './http/server.js';
import { JournalCache } from './journal-cache.js';
import { DaemonMetrics } from './metrics.js';
import { reapStateDir, type ReapOutcome } from './reap.js';
import { reapDatabaseRows } from './reap-database.js';
import { shipStateDir } from './ship.js';
import type { HostStatus } from './status-body.js';
import { buildStatus, guardStatus, monitoredRuns, RECENT_EVENTS, type DatabaseFacts, type MonitoredRun } from './status.js';
import { PressureGuard } from './pressure-guard.js';
import type { PressureGuardConfig } from '../config/pressure.js';
import { repeatLimited } from './repeat-limit.js';
import { PageReads } from './page-reads.js';

export interface DaemonOptions {
  stateDir: string;
  database?: DatabaseConfig;
  /** Time between the end of a sweep and the start of the next, milliseconds (> 0). */
  intervalMs: number;
  /** How long a shipped journal stays, milliseconds. */
  retentionMs: number;
  listen: ListenAddress;
  version: string;
  /** The memory-pressure guard's settings (pressure-guard.ts). */
  pressureGuard: PressureGuardConfig;
  /** One line for the operator (stderr). */
  log(line: string): void;
  /** Called after each sweep (systemd's STATUS= and keep-alive, tests). */
  onSweep?(report: SweepReport): void;
}

/** How long a reading of the monitored runs is reused (the gauges of one scrape share it). */
const RUNNING_CACHE_MS = 250;

export class Daemon {
  private readonly cache: JournalCache;
  private statusCache: { atMs: number; body: HostStatus } | undefined;
  private metricsCache: { atMs: number; body: Promise<{ contentType: string; body: string }> } | undefined;
  private readonly metrics: DaemonMetrics;
  private readonly startedAtMs = Date.now();
  private readonly starttime = readStat(process.pid)?.starttime ?? 0;
  private heartbeatAt = new Date(this.startedAtMs).toISOString();
  private lastSweep: SweepReport | null = null;
  private databaseState: 'ok' | 'down' | 'none';
  private databaseFacts: DatabaseFacts | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private failing = false;
  private readonly failureLine = repeatLimited((line) => this.options.log(line));
  private running: { atMs: number; runs: MonitoredRun[] } | undefined;
  private server: Server | undefined;
  /** The memory-pressure guard: its own loop beside the sweeps. */
  readonly guard: PressureGuard;
  /** The address really listened on. */
  address: ListenAddress;

  private constructor(private readonly options: DaemonOptions) {
    this.cache = new JournalCache(options.stateDir);
    this.databaseState = options.database ? 'down' : 'none';
    this.address = options.listen;
    this.guard = new PressureGuard({
      stateDir: options.stateDir,
      database: options.database,
      config: options.pressureGuard,
      intervalMs: options.intervalMs,
      log: options.log,
      onStop: (stop) => this.metrics.pressureStop(stop),
    });
    this.metrics = new DaemonMetrics({ stateDir: options.stateDir, running: () => this.runningNow(), guard: () => this.guard.view() }, this.startedAtMs);
  }

  /**
   * Binds the listener and writes the first heartbeat; no sweep has run yet.
   * @throws UsageError when the address cannot be bound; the file system's error when watchdog.json cannot be written
   */
  static async start(options: DaemonOptions): Promise<Daemon> {
    const daemon = new Daemon(options);
    const { database, stateDir } = options;
    const runView = (runId: string) => readRunView({ runId }, { database, stateDir, read: PAGE_READ, warn: (line) => options.log(`warning: ${line}`) });
    // With a database each page read holds a connection of the fleet's: a few at once (page-reads.ts), the same ones shared.
    const reads = new PageReads();
    const { server, address } = await listenOn(options.listen, {
      status: () => daemon.status(),
      metrics: () => daemon.metricsText(),
      // The run page reads PostgreSQL when there is one (any host's runs), else this host's journals.
      runView: database ? (runId) => reads.run(JSON.stringify(['run', runId]), () => runView(runId)) : runView,
      fleet: database ? (analysisId) => reads.run(JSON.stringify(['fleet', analysisId]), () => readFleet(database, analysisId)) : undefined,
    });
    daemon.server = server;
    daemon.address = address;
    try {
      daemon.writeHeartbeat();
    } catch (error) {
      await closeServer(server);
      throw error;
    }
    return daemon;
  }

  /**
   * The /status body, built at most every RUNNING_CACHE_MS: a burst of scrapes (50 at once in the
   * bench) shares one reading of the markers and journals instead of each paying ~5 ms of the one
   * thread the sweeps and cancel delivery also need.
   */
  status(): HostStatus {
    const now = Date.now();
    if (this.statusCache && now - this.statusCache.atMs <= RUNNING_CACHE_MS) return this.statusCache.body;
    const body = this.buildStatusNow();
    this.statusCache = { atMs: now, body };
    return body;
  }

  /** The /metrics body, rendered at most every RUNNING_CACHE_MS (as /status, for bursts of scrapers). */
  metricsText(): Promise<{ contentType: string; body: string }> {
    const now = Date.now();
    if (!this.metricsCache || now - this.metricsCache.atMs > RUNNING_CACHE_MS) {
      const body = this.metrics.text().then((text) => ({ contentType: this.metrics.contentType, body: text }));
      this.metricsCache = { atMs: now, body };
      // A failed rendering is not kept: the next scrape tries again.
      body.catch(() => (this.metricsCache = undefined));
    }
    return this.metricsCache.body;
  }

  private buildStatusNow(): HostStatus {
    return buildStatus(this.options.stateDir, this.cache, {
      pid: process.pid,
      startedAtMs: this.startedAtMs,
      heartbeatAt: this.heartbeatAt,
      lastSweep: this.lastSweep,
      database: this.databaseState,
      version: this.options.version,
    }, this.databaseFacts, guardStatus(this.guard.view()));
  }

  /** Sweeps every interval, and guards the host's memory, until stop(); then closes the server. Never rejects. */
  async run(): Promise<void> {
    const guarding = this.guard.run();
    while (!this.stopping) {
      try {
        await this.sweep();
      } catch (error) {
        // sweep() reports its failures itself; this is for the one nobody foresaw. The daemon goes on.
        this.logFailure(`sweep: ${(error as Error).message ?? error}`, Date.now());
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.intervalMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    this.guard.stop();
    await guarding;
    if (this.server) await closeServer(this.server);
  }

  /** Asks the loop to end after the sweep under way (if any). */
  stop(): void {
    this.stopping = true;
    this.guard.stop();
    this.wake?.();
  }

  /** The monitored runs, re-read at most every RUNNING_CACHE_MS. */
  private runningNow(): MonitoredRun[] {
    const now = Date.now();
    if (!this.running || now - this.running.atMs > RUNNING_CACHE_MS) {
      this.cache.refresh();
      this.running = { atMs: now, runs: monitoredRuns(this.options.stateDir, this.cache) };
    }
    return this.running.runs;
  }

  /**
   * One sweep; never throws (a failure is in the report). The state directory is checked again
   * first (state-dir.ts): the daemon runs for months, and a directory on its path may change hands
   * meanwhile; a sweep that finds it refused touches nothing in it, its heartbeat included, so
   * `status` soon says the daemon is down and the log says why.
   */
  async sweep(): Promise<SweepReport> {
    const begin = Date.now();
    const { stateDir } = this.options;
    const errors: string[] = [];
    const outcomes: ReapOutcome[] = [];
    let refused = false;
    try {
      openStateDir(stateDir, false);
    } catch (error) {
      refused = true;
      errors.push((error as Error).message);
    }
    const shipped = refused ? 0 : await this.reapAndShip(outcomes, errors);
    try {
      if (!refused) {
        this.cache.refresh();
        this.metrics.observeFinished(this.cache);
      }
    } catch (error) {
      errors.push(`journals: ${(error as Error).message ?? error}`);
    }
    this.running = undefined;
    const end = Date.now();
    const report: SweepReport = {
      at: new Date(end).toISOString(),
      ms: end - begin,
      reaped: outcomes.filter((outcome) => outcome.verdict === 'lost').length,
      shipped,
      ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    };
    this.lastSweep = report;
    this.heartbeatAt = report.at;
    this.metrics.sweep(end, report.ms, report.error !== undefined);
    this.logFailure(report.error, end);
    try {
      if (!refused) this.writeHeartbeat();
    } catch (error) {
      this.logFailure(`cannot write ${stateDir}/watchdog.json: ${(error as NodeJS.ErrnoException).code ?? error}`, end);
    }
    this.options.onSweep?.(report);
    return report;
  }

  /**
   * The work of a sweep: reap, then (with a database) reap its rows, ship, and report to it.
   * @returns the records shipped; what failed is added to `errors`, the runs reaped to `outcomes`
   */
  private async reapAndShip(outcomes: ReapOutcome[], errors: string[]): Promise<number> {
    const { stateDir, database } = this.options;
    const reapOptions = { stateDir, database, warn: (line: string) => this.options.log(`warning: ${line}`) };
    let shipped = 0;
    try {
      outcomes.push(...(await reapStateDir(reapOptions)));
    } catch (error) {
      errors.push(`reap: ${(error as Error).message ?? error}`);
    }
    try {
      removeStaleCgroups();
    } catch {
      // Best effort, as in `reap`: the next sweep tries again.
    }
    if (database) {
      let reached = false;
      try {
        const handled = new Set(outcomes.map((outcome) => outcome.runId));
        outcomes.push(...(await reapDatabaseRows(database, reapOptions, handled)));
        const sweep = await shipStateDir(stateDir, database, this.options.retentionMs, (journal) => this.liveRunJournal(journal));
        for (const outcome of sweep.outcomes) {
          shipped += outcome.shipped;
          if (outcome.error) errors.push(`${outcome.journal}: not shipped (${outcome.error})`);
          if (outcome.rejected > 0) this.options.log(`${outcome.journal}: ${outcome.rejected} records refused by PostgreSQL, set aside in ${outcome.rejectedPath}`);
        }
        this.databaseFacts = await withSchema(database, async (client) => {
          await upsertDaemon(client, {
            host: hostname(),
            pid: process.pid,
            started_at: new Date(this.startedAtMs).toISOString(),
            interval_ms: this.options.intervalMs,
            version: this.options.version,
            listen: formatListen(this.address),
          });
          return { recentEvents: await recentHostEvents(client, hostname(), RECENT_EVENTS), killedRunIds: await runsKilledLastDay(client, hostname()) };
        });
        reached = true;
      } catch (error) {
        errors.push(`database ${database.display}: ${describeDatabaseError(error)}`);
      }
      this.databaseState = reached ? 'ok' : 'down';
    }
    for (const outcome of outcomes) {
      if (outcome.verdict === 'lost') {
        this.options.log(`run ${outcome.runId}: wrapper gone; marked lost, ${outcome.killed} processes signalled, ${outcome.refused} refused`);
      }
    }
    return shipped;
  }

  /** Whether a journal belongs to a run whose wrapper lives (it ships its own journal). */
  private liveRunJournal(journal: string): boolean {
    const runId = journal.slice(journal.lastIndexOf('/') + 1).split('.')[0];
    if (!isRunId(runId)) return false;
    const marker = readMarker(this.options.stateDir, runId);
    return marker !== undefined && marker.host === hostname() && wrapperAlive(marker);
  }

  /** One line per failing sweep; the same failure again only once a minute, and one line when it clears. */
  private logFailure(text: string | undefined, nowMs: number): void {
    if (text === undefined) {
      if (this.failing) this.options.log('sweep ok again');
      this.failing = false;
      this.failureLine.clear();
      return;
    }
    this.failing = true;
    this.failureLine(`sweep failed: ${text}`, nowMs);
  }

  private writeHeartbeat(): void {
    const content: DaemonFile = {
      pid: process.pid,
      starttime: this.starttime,
      boot_id: bootId(),
      host: hostname(),
      started_at: new Date(this.startedAtMs).toISOString(),
      heartbeat_at: this.heartbeatAt,
      interval_ms: this.options.intervalMs,
      version: this.options.version,
      listen: formatListen(this.address),
      last_sweep: this.lastSweep,
    };
    writeDaemonFile(this.options.stateDir, content);
  }
}

/** Every host's daemon row, judged up or stale by its heartbeat's age (3 intervals). @throws pg errors */
export async function daemonsOfDatabase(database: DatabaseConfig): Promise<(Awaited<ReturnType<typeof listDaemons>>[number] & { up: boolean })[]> {
  const rows = await withSchema(database, async (client) => {
    return listDaemons(client);
  });
  return rows.map((row) => ({ ...row, up: daemonUp(row) }));
}
