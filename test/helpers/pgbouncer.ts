/**
 * A PgBouncer of the test's own in front of the test database: the system's pgbouncer binary, a
 * config in a temp directory, a free loopback port, no Unix socket, trust auth, and a small pool in
 * transaction mode (or session mode). As root it runs as `postgres` (pgbouncer refuses root),
 * spawned with that uid directly so that the pid we hold is pgbouncer's own, not a runuser's.
 *
 * Stopping is checked, not trusted: stop() signals that pid (SIGTERM, an immediate shutdown) and
 * returns only once the process is gone.
 */
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freeLoopbackPort, serverUser, spawnServer } from './server-host.js';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import which from 'which';
import { until } from './until.js';


/** The pgbouncer binary: the first on PATH, else /usr/sbin/pgbouncer; undefined when not installed. */
export function pgbouncerBinary(): string | undefined {
  return which.sync('pgbouncer', { nothrow: true, path: [process.env.PATH ?? '', '/usr/sbin'].join(delimiter) }) ?? undefined;
}

export interface PgbouncerOptions {
  poolMode?: 'transaction' | 'session';
  /** Server connections per pool (default 3): far fewer than the clients, so clients queue. */
  poolSize?: number;
}

/** A running pgbouncer. */
export interface Pgbouncer {
  /** URL of the test database through the pool (user as in the direct URL, no password). */
  readonly url: string;
  /** URL of pgbouncer's admin console (database `pgbouncer`; SHOW STATS, SHOW POOLS, ...). */
  readonly adminUrl: string;
  /** The database's name, in pgbouncer and in PostgreSQL (SHOW STATS, SHOW SERVERS rows name it). */
  readonly database: string;
  readonly port: number;
  /** pgbouncer's own pid. */
  readonly pid: number;
  /** Its starttime (/proc/PID/stat): with the pid, its identity. */
  readonly starttime: number | undefined;
  readonly logFile: string;
  /** The log so far (empty when unreadable). */
  log(): string;
  /** Runs one admin-console command (simple query protocol) and returns its rows. */
  admin(command: string): Promise<Record<string, unknown>[]>;
  /** SIGTERM to pgbouncer's pid; resolves once the process is gone. Then removes the temp directory. */
  stop(): Promise<void>;
}

/** A value for pgbouncer's ini files: quoted when it is not plain. */
function iniValue(value: string): string {
  if (/^[A-Za-z0-9_.:/-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Starts pgbouncer in front of the database of `databaseUrl` and waits until it accepts connections.
 * @throws when pgbouncer is not installed, exits early, or does not answer within 10 s (with its log)
 */
export async function startPgbouncer(databaseUrl: string, options: PgbouncerOptions = {}): Promise<Pgbouncer> {
  const binary = pgbouncerBinary();
  if (!binary) throw new Error('pgbouncer is not installed (neither on PATH nor at /usr/sbin/pgbouncer)');
  const direct = new URL(databaseUrl);
  const dbname = decodeURIComponent(direct.pathname.slice(1));
  const user = decodeURIComponent(direct.username) || 'postgres';
  const password = decodeURIComponent(direct.password);
  const port = await freeLoopbackPort();
  const dir = mkdtempSync(join(tmpdir(), 'scidex-pgbouncer-'));
  const owner = serverUser();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const logFile = join(dir, 'pgbouncer.log');
  const pidFile = join(dir, 'pgbouncer.pid');
  const config = join(dir, 'pgbouncer.ini');
  const userlist = join(dir, 'userlist.txt');

  const target = [
    `host=${iniValue(direct.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1')}`,
    `port=${direct.port || '5432'}`,
    `dbname=${iniValue(dbname)}`,
    `user=${iniValue(user)}`,
    ...(password ? [`password=${iniValue(password)}`] : []),
  ].join(' ');
  writeFileSync(userlist, `"${user}" ""\n`);
  writeFileSync(
    config,
    [
      '[databases]',
      `${dbname} = ${target}`,
      '',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${userlist}`,
      `admin_users = ${user}`,
      `pool_mode = ${options.poolMode ?? 'transaction'}`,
      `default_pool_size = ${options.poolSize ?? 3}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 500',
      `logfile = ${logFile}`,
      `pidfile = ${pidFile}`,
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
  );
  if (owner) for (const file of [userlist, config]) chownSync(file, owner.uid, owner.gid);

  const server = await spawnServer('pgbouncer', binary, [config], owner ?? {});
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  const url = `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(dbname)}`;
  const adminUrl = `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/pgbouncer`;
  const admin = async (command: string) => {
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
      return (await client.query(command)).rows as Record<string, unknown>[];
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  // Ready once a query goes all the way through to PostgreSQL.
  let refusal: unknown;
  const ready = await until(
    'pgbouncer to accept connections',
    async () => {
      if (server.exited() !== undefined) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`pgbouncer exited at start (${JSON.stringify(server.exited())}): ${server.stderr()}\n${log()}`);
      }
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return true;
      } catch (error) {
        refusal = error;
        await client.end().catch(() => undefined);
        return false;
      }
    },
    // A hang bound: pgbouncer's start and a first round trip, slow on a host loaded by the suite.
    60_000,
    { every: 100, onTimeout: 'return' },
  );
  if (!ready) {
    await stop();
    throw new Error(`pgbouncer did not accept connections within 60 s (${String(refusal)}): ${server.stderr()}\n${log()}`, { cause: refusal });
  }
  // The pidfile names the process we hold: the pid we will signal is pgbouncer's own.
  const written = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined;
  if (written !== server.pid) {
    await stop();
    throw new Error(`pgbouncer's pidfile says ${written}, but the process we started is ${server.pid}`);
  }

  return { url, adminUrl, database: dbname, port, pid: server.pid, starttime: server.starttime, logFile, log, admin, stop };
}
